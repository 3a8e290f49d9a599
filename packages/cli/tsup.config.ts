import { defineConfig } from 'tsup';

export default defineConfig({
  // index: the programmatic API (main(), commands); bin: the `bitexit` executable.
  // tsup keeps bin.ts's `#!/usr/bin/env node` line and marks files that start with one executable.
  entry: ['src/index.ts', 'src/bin.ts'],
  // ESM, and CommonJS for require('@bitexit/cli') on Node 20 (shims give the CJS build import.meta.url).
  format: ['esm', 'cjs'],
  shims: true,
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
