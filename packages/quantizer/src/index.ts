export * from './algorithms/rtn.js';
export * from './algorithms/gptq.js';
export * from './algorithms/allocate.js';
export * from './algorithms/outliers.js';
export * from './algorithms/matrix.js';
export { cholesky, invertLower, upperCholeskyOfInverse, NotPositiveDefiniteError } from './algorithms/linalg.js';
export * from './calibrate.js';
export * from './codec.js';
export * from './quantize.js';
