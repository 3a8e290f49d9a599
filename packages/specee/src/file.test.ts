import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '@bitexit/format';
import { NgramDrafter } from './drafters/ngram.js';
import { SpeceeFileError } from './errors.js';
import { encodeExitsFile, readExitsFile } from './file.js';
import { ExitPredictor } from './predictor.js';
import { randomArray } from './test-helpers.js';

describe('exits file (GGUF)', () => {
  it('round-trips predictors, schedule, threshold, drafter and the n-gram table', async () => {
    const preds = new Map([1, 4].map((l) => [l, ExitPredictor.random(4, l)]));
    const ngram = NgramDrafter.train([[1, 2, 3, 1, 2, 4, 1, 2, 3]], { minContextCount: 1 });
    const bytes = await encodeExitsFile({
      nLayers: 6,
      k: 4,
      threshold: 0.7,
      predictors: preds,
      offline: [4],
      online: { history: 5, spread: [-2, 0, 2] },
      drafter: 'ngram',
      ngram,
      target: 'stories260K',
      seed: 3,
      metrics: new Map([
        [1, { precision: 0.5, recall: 0.25 }],
        [4, { precision: 0.75, recall: 1 }],
      ]),
    });
    const f = await readExitsFile(new MemoryByteSource('x.gguf', bytes));
    expect(f.nLayers).toBe(6);
    expect(f.threshold).toBeCloseTo(0.7, 6);
    expect(f.offline).toEqual([4]);
    expect(f.online).toEqual({ history: 5, spread: [-2, 0, 2] });
    expect(f.drafter).toBe('ngram');
    expect(f.target).toBe('stories260K');
    expect(f.metrics?.get(4)).toEqual({ precision: 0.75, recall: 1 });
    const x = randomArray(12, Math.random);
    for (const l of [1, 4]) expect(f.predictors.get(l)!.forward(x)).toBeCloseTo(preds.get(l)!.forward(x), 6);
    expect(await f.ngram!.propose([5, 1, 2], 2)).toEqual(await ngram.propose([5, 1, 2], 2));
  });

  it('rejects a predictor on the last layer and files without SpecEE keys', async () => {
    const bytes = await encodeExitsFile({
      nLayers: 3,
      k: 4,
      threshold: 0.5,
      predictors: new Map([[2, ExitPredictor.random(4, 1)]]),
      offline: [],
      online: { history: 5, spread: [-2, 0, 2] },
      drafter: 'ngram',
    });
    await expect(readExitsFile(new MemoryByteSource('last.gguf', bytes))).rejects.toThrow(/outside 0\.\.1/);
    const { encodeGguf } = await import('@bitexit/format');
    const empty = await encodeGguf({ metadata: [], tensors: [] });
    await expect(readExitsFile(new MemoryByteSource('e.gguf', empty))).rejects.toThrow(SpeceeFileError);
  });
});
