import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Where the shared test fixtures live: $BITEXIT_FIXTURES, else `../shared/fixtures`
 * beside the repository root (found by walking up to turbo.json). Returns null
 * when absent, so tests can skip with a printed reason.
 */
export function fixturesDir(): string | null {
  const env = process.env.BITEXIT_FIXTURES;
  if (env) return existsSync(env) ? resolve(env) : null;
  let dir = process.cwd();
  for (;;) {
    if (existsSync(join(dir, 'turbo.json'))) {
      const candidate = resolve(dir, '..', 'shared', 'fixtures');
      return existsSync(candidate) ? candidate : null;
    }
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** Path of one fixture file, or null (with the reason logged once) when missing. */
export function fixturePath(relative: string): string | null {
  const dir = fixturesDir();
  if (!dir) {
    console.warn(`[bitexit] skipping: fixtures not found (set BITEXIT_FIXTURES or place ../shared/fixtures beside the repo)`);
    return null;
  }
  const p = join(dir, relative);
  if (!existsSync(p)) {
    console.warn(`[bitexit] skipping: fixture ${p} not found`);
    return null;
  }
  return p;
}
