import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/node.ts'],
  // ESM, and CommonJS for require() on Node 20 (shims give the CJS build import.meta.url).
  format: ['esm', 'cjs'],
  shims: true,
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
