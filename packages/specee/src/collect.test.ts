import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '@bitexit/backend';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, openModel, type ModelSource } from '@bitexit/engine';
import { chunkTokens, collectTraces, layerSamples, type Trace } from './collect.js';
import { NgramDrafter } from './drafters/ngram.js';
import { SpeceeOptionError } from './errors.js';
import { simulateExits } from './simulate.js';
import { trainExits } from './train.js';
import { devTextPath, storiesPath } from './test-fixtures.js';

describe('chunkTokens', () => {
  it('cuts chunks that start with BOS, up to maxTokens text tokens', () => {
    const ids = Array.from({ length: 10 }, (_, i) => 10 + i);
    expect(chunkTokens(ids, 4, 100, 1)).toEqual([[1, 10, 11, 12], [1, 13, 14, 15], [1, 16, 17, 18], [1, 19]]);
    expect(chunkTokens(ids, 4, 5, 1)).toEqual([[1, 10, 11, 12], [1, 13, 14]]);
    expect(chunkTokens(ids, 4, 100, null)).toEqual([[10, 11, 12, 13], [14, 15, 16, 17], [18, 19]]);
    expect(() => chunkTokens(ids, 300, 10, 1)).toThrow(SpeceeOptionError);
  });
});

describe.skipIf(!storiesPath || !devTextPath)('traces of stories260K', () => {
  let src: ModelSource;
  let be: Backend;
  let text: string;
  let ngram: NgramDrafter;
  beforeAll(async () => {
    src = await openModel(storiesPath!);
    be = await createCpuBackend();
    text = await readFile(devTextPath!, 'utf8');
    const paras = text.split(/\n\s*\n/);
    ngram = NgramDrafter.train([src.tokenizer!.encode(paras.slice(300, 700).join('\n\n'), { addBos: false })]);
  });
  afterAll(async () => {
    await be?.dispose();
    await src?.close();
  });

  const sequences = (from: number, chunk: number, tokens: number) => {
    const paras = text.split(/\n\s*\n/);
    const ids = src.tokenizer!.encode(paras.slice(from, from + 60).join('\n\n'), { addBos: false });
    return chunkTokens(ids, chunk, tokens, src.tokenizer!.bosId);
  };

  it('the last layer reproduces the engine\'s teacher-forced logits', async () => {
    const seqs = sequences(0, 48, 94);
    expect(seqs.map((s) => s.length)).toEqual([48, 48]);
    const tr = await collectTraces(src, be, seqs, ngram, { k: 4 });
    expect(tr.rows).toBe(94);
    const model = await loadModel(storiesPath!, { backend: be });
    try {
      const L = tr.nLayers;
      let row = 0;
      for (const ids of seqs) {
        const logits = await model.logits(ids);
        for (let t = 0; t < ids.length - 1; t++, row++) {
          const l = logits[t]!;
          let arg = 0;
          for (let v = 1; v < l.length; v++) if (l[v]! > l[arg]!) arg = v;
          expect(tr.argmax[row * L + L - 1]).toBe(arg);
          const m = Math.max(...l);
          const lse = m + Math.log(l.reduce((s, v) => s + Math.exp(v - m), 0));
          expect(tr.logprob[row * L + L - 1]).toBeCloseTo(l[ids[t + 1]!]! - lse, 3);
          expect(tr.target[row]).toBe(ids[t + 1]);
          // Draft logits at the last layer are the full logits at the draft ids.
          for (let j = 0; j < 4; j++) {
            const d = tr.drafts[row * 4 + j]!;
            expect(d).toBeGreaterThanOrEqual(0);
            expect(tr.draftLogits[(row * L + L - 1) * 4 + j]).toBeCloseTo(l[d]!, 3);
          }
        }
      }
      // Earlier layers differ from the last one (the label is not trivially 1).
      const s = layerSamples(tr, 0);
      expect(s.n).toBe(94);
      expect(s.y.reduce((a, b) => a + b, 0)).toBeLessThan(94);
    } finally {
      await model.dispose();
    }
  });

  let trained: { trace: Trace; result: ReturnType<typeof trainExits> } | null = null;
  it('trained predictors fire: tokens exit early with high agreement', async () => {
    const trace = await collectTraces(src, be, sequences(100, 256, 510), ngram, { k: 4 });
    const result = trainExits(trace, { seed: 1, epochs: 8 });
    trained = { trace, result };
    expect([...result.predictors.keys()]).toEqual([0, 1, 2, 3]);
    expect(result.offline.length).toBeGreaterThan(0);
    expect(result.offline).not.toContain(4);
    const sim = simulateExits(trace, result.predictors, { offline: result.offline, threshold: 0.5, config: src.config });
    expect(sim.histogram.slice(0, 4).reduce((a, b) => a + b, 0)).toBeGreaterThan(10);
    expect(sim.layersFraction).toBeLessThan(1);
    expect(sim.agreement).toBeGreaterThan(0.9);
    expect(sim.flops!.ratio).toBeGreaterThan(0);
  });

  it('is deterministic for a seed', () => {
    expect(trained).not.toBeNull();
    const again = trainExits(trained!.trace, { seed: 1, epochs: 8 });
    expect(again.offline).toEqual(trained!.result.offline);
    expect(Array.from(again.predictors.get(3)!.downW)).toEqual(Array.from(trained!.result.predictors.get(3)!.downW));
  });
});
