// End-to-end: the shipped GGUF, loaded by the bitexit engine on the CPU backend, must reproduce the
// PyTorch reference (tools/demo-model/sample.py, F16-rounded weights) — logits and greedy tokens.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '@bitexit/engine';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { demoModelPath } from './index.js';
import golden from './golden.json' with { type: 'json' };

describe('demo model through the engine (CPU backend)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(demoModelPath(), { backend: await createCpuBackend() });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('loads as a 10-layer llama with the shipped context length', () => {
    expect(model.info.contextLength).toBe(256);
  });

  it('matches the reference logits after each prompt', async () => {
    for (const c of golden.cases) {
      const all = await model.logits(c.prompt_ids);
      const last = all[all.length - 1]!;
      const [topId] = c.last_logits_top5[0]!;
      let argmax = 0;
      for (let k = 1; k < last.length; k++) if (last[k]! > last[argmax]!) argmax = k;
      expect(argmax, c.prompt).toBe(topId);
      for (const [id, value] of c.last_logits_top5) expect(Math.abs(last[id!]! - value!), `${c.prompt} #${id}`).toBeLessThan(2e-2);
    }
  });

  it('continues the prompts greedily exactly like the reference', async () => {
    for (const c of golden.cases) {
      const n = 12;
      const { tokens } = await model.generate(c.prompt_ids, { temperature: 0, maxTokens: n }).result;
      expect(tokens.slice(0, n), c.prompt).toEqual(c.greedy_ids.slice(0, n));
    }
  });
});
