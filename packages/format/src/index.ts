export * from './errors.js';
export * from './byte-source.js';
export * from './tensor.js';
