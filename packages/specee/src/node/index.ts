export * from './pipeline.js';
export * from './decode-eval.js';
export * from './enable.js';
