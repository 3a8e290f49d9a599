export * from './fixtures.js';
export * from './file.js';
