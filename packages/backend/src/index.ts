export * from './backend.js';
export * from './errors.js';
export * from './program.js';
export * from './registry.js';
export * from './resources.js';
export * from './validate.js';
export * from './handles.js';
