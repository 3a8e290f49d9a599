import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, type Model } from '@bitexit/engine';
import { ModelDrafter } from './model.js';
import { topK } from '../math.js';
import { storiesPath } from '../test-fixtures.js';

describe.skipIf(!storiesPath)('ModelDrafter (stories260K drafting for itself)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(storiesPath!, { backend: await createCpuBackend(), contextLength: 64 });
  });
  afterAll(async () => {
    await model?.dispose();
    await model?.backend.dispose();
  });

  it('proposes the model\'s top-k next tokens; proposeAll agrees with propose', async () => {
    const d = new ModelDrafter(model);
    const ids = [1, 403, 407, 261, 378, 471, 266];
    const all = await d.proposeAll(ids, 4);
    expect(all).toHaveLength(ids.length);
    const logits = await model.logits(ids.slice(0, 4));
    expect(await d.propose(ids.slice(0, 4), 4)).toEqual(topK(logits[3]!, 4));
    expect(all[3]).toEqual(topK(logits[3]!, 4));
    expect(new Set(all[3]).size).toBe(4);
    expect(await d.propose([], 4)).toEqual([]);
  });
});
