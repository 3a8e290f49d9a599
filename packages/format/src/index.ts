export * from './errors.js';
export * from './byte-source.js';
export * from './byte-sink.js';
export * from './tensor.js';
export * from './numeric.js';
export * from './gguf/index.js';
export * from './safetensors/index.js';
export * from './llama2c/index.js';
