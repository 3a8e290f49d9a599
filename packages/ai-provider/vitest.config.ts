import { defineConfig } from 'vitest/config';

// Resolve workspace packages to their TypeScript sources so tests never run stale builds.
export default defineConfig({
  resolve: { conditions: ['bitexit-source'] },
  ssr: { resolve: { conditions: ['bitexit-source'] } },
  test: { include: ['src/**/*.test.ts'], testTimeout: 60_000 },
});
