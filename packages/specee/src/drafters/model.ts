import type { Model } from '@bitexit/engine';
import type { Drafter } from './types.js';
import { topK } from '../math.js';

/**
 * A small draft model of the same vocabulary, loaded by the engine
 * (`loadModel`): proposes its top-k next tokens. Each call runs
 * `model.nextLogits(context)`, which reuses the draft model's KV cache for
 * the prefix shared with the previous call, so decoding token by token costs
 * one draft step per token; `proposeAll` gives every position of a sequence
 * in one pass (training-data collection).
 */
export class ModelDrafter implements Drafter {
  readonly kind = 'model';
  readonly needsFeature = false;
  constructor(readonly model: Model) {}

  get vocabSize(): number {
    return this.model.info.config.vocabSize;
  }

  async propose(context: readonly number[], k: number): Promise<number[]> {
    if (context.length === 0) return [];
    return topK(await this.model.nextLogits([...context]), k);
  }

  /** Proposals after every prefix of `ids` (entry t: the draft for ids[t+1]). */
  async proposeAll(ids: readonly number[], k: number): Promise<number[][]> {
    if (ids.length === 0) return [];
    const logits = await this.model.logits([...ids]);
    return logits.map((l) => topK(l, k));
  }
}
