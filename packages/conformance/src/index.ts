export { defineConformanceSuite, type ConformanceSuiteOptions } from './suite.js';
export {
  DEFAULT_TOLERANCE,
  DEFAULT_OP_TOLERANCE,
  resolveTolerance,
  compareArrays,
  assertClose,
  assertEqualInts,
  type Bound,
  type ToleranceOptions,
  type ResolvedTolerance,
  type Comparison,
} from './tolerance.js';
export * as oracle from './oracle/index.js';
export { OracleMachine } from './oracle/machine.js';
export { Harness } from './harness.js';
export { Rng } from './random.js';
export { encodeWeight, decodeWeight } from './weights.js';
export { englishProblem } from './model-checks.js';
