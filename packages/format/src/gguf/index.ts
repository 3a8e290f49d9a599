export * from './types.js';
export * from './reader.js';
export * from './writer.js';
export * from './quants.js';
export * from './dequantize.js';
export * from './requantize.js';
