import type { Model } from '@bitexit/engine';
import type { Drafter } from './types.js';
import { topK } from '../math.js';

/**
 * A small draft model of the same vocabulary, loaded by the engine
 * (`loadModel`): proposes its top-k next tokens. Correct first: each call
 * runs `model.logits` over the whole context (fresh KV cache), so a call
 * costs a prefill of the context; `proposeAll` gives every position of a
 * sequence in one pass (training-data collection).
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
    const logits = await this.model.logits([...context]);
    return topK(logits[logits.length - 1]!, k);
  }

  /** Proposals after every prefix of `ids` (entry t: the draft for ids[t+1]). */
  async proposeAll(ids: readonly number[], k: number): Promise<number[][]> {
    if (ids.length === 0) return [];
    const logits = await this.model.logits([...ids]);
    return logits.map((l) => topK(l, k));
  }
}
