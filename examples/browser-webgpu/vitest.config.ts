import { defineConfig } from 'vitest/config';

// The test imports the engine and the CPU backend (for the reference text) from their sources.
export default defineConfig({
  resolve: { conditions: ['bitexit-source'] },
  ssr: { resolve: { conditions: ['bitexit-source'] } },
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 180_000 },
});
