import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { evalExitsFromText, evalExitsJson, loadExitsFile, saveExitsFile, trainExitsFromText } from './pipeline.js';
import { Rng } from '../math.js';
import { buildSafetensors, randomArray } from '../test-helpers.js';
import { devTextPath, storiesPath } from '../test-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'specee-pipeline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!storiesPath || !devTextPath)('train → file → eval with an EAGLE head from a safetensors file (stories260K)', () => {
  it('stores the drafter reference and evaluates with the same head', async () => {
    // A random head in the published layout for dim 64, 8 heads, 4 KV heads of 8, FFN 172.
    const rng = new Rng(5);
    const r = () => rng.next();
    const t = (name: string, shape: number[], scale = 0.1) => ({ name, dtype: 'F32' as const, shape, data: randomArray(shape.reduce((a, b) => a * b, 1), r, scale) });
    const head = join(dir, 'eagle.safetensors');
    writeFileSync(
      head,
      buildSafetensors([
        t('fc.weight', [64, 128]),
        t('fc.bias', [64]),
        t('layers.0.self_attn.q_proj.weight', [64, 64]),
        t('layers.0.self_attn.k_proj.weight', [32, 64]),
        t('layers.0.self_attn.v_proj.weight', [32, 64]),
        t('layers.0.self_attn.o_proj.weight', [64, 64]),
        { name: 'layers.0.post_attention_layernorm.weight', dtype: 'F32', shape: [64], data: new Float32Array(64).fill(1) },
        t('layers.0.mlp.gate_proj.weight', [172, 64]),
        t('layers.0.mlp.up_proj.weight', [172, 64]),
        t('layers.0.mlp.down_proj.weight', [64, 172]),
      ]),
    );
    const paras = readFileSync(devTextPath!, 'utf8').split(/\n\s*\n/);
    const backend = await createCpuBackend();
    try {
      const trained = await trainExitsFromText({
        modelPath: storiesPath!,
        text: paras.slice(50, 90).join('\n\n'),
        backend,
        drafter: `eagle:${head}`,
        maxTokens: 300,
        epochs: 2,
        seed: 1,
      });
      expect(trained.spec.drafter).toBe(`eagle:${head}`);
      expect(trained.spec.ngram).toBeNull();
      expect(trained.tokens).toBe(300);
      const file = join(dir, 'e.gguf');
      await saveExitsFile(file, trained.spec);
      const spec = await loadExitsFile(file);
      expect([...spec.predictors.keys()]).toEqual([0, 1, 2, 3]);
      const ev = await evalExitsFromText({ modelPath: storiesPath!, exits: spec, text: paras.slice(0, 20).join('\n\n'), backend, maxTokens: 200, thresholds: [0.5, 0.9] });
      expect(ev.results).toHaveLength(2);
      const j = evalExitsJson(ev.results[0]!.sim, 0.5, ev.drafter);
      expect(j.tokens).toBe(200);
      expect(j.drafter).toBe(`eagle:${head}`);
      // Rows after the first of each chunk have drafts (the first has no feature yet).
      expect(ev.results[0]!.sim.draftedTokens).toBe(199);
      expect(ev.results[1]!.sim.layersFraction).toBeGreaterThanOrEqual(ev.results[0]!.sim.layersFraction);
    } finally {
      await backend.dispose();
    }
  });
});
