export * from './errors.js';
export type { Drafter } from './drafters/types.js';
export { NgramDrafter, type NgramOptions } from './drafters/ngram.js';
export { ModelDrafter } from './drafters/model.js';
export {
  EagleDrafter,
  EAGLE_GGUF_KEYS,
  EAGLE_HF_KEYS,
  eagleTargetFromSource,
  hasEagleHead,
  loadEagleGguf,
  loadEagleGgufFile,
  loadEagleSafetensors,
  type EagleHeadWeights,
  type EagleTarget,
} from './drafters/eagle.js';
export * from './predictor.js';
export * from './schedule.js';
export * from './collect.js';
export * from './simulate.js';
export * from './train.js';
export * from './file.js';
export * from './early-exit.js';
export { Rng, softmax, topK } from './math.js';
