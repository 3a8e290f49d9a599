import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// This package has its own turbo.json, which stops fixturesDir()'s walk up to
// the repository root: point it at ../shared/fixtures beside the repo explicitly.
const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '../../../shared/fixtures');
const env: Record<string, string> = {};
if (!process.env.BITEXIT_FIXTURES && existsSync(fixtures)) env.BITEXIT_FIXTURES = fixtures;

// Resolve workspace packages to their TypeScript sources so tests never run stale builds.
export default defineConfig({
  resolve: { conditions: ['bitexit-source'] },
  ssr: { resolve: { conditions: ['bitexit-source'] } },
  test: { include: ['src/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000, env },
});
