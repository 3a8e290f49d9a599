/**
 * What every published @bitexit/* package promises an npm user: metadata
 * (engines, repository, keywords), an exports map that works with import()
 * and require() on Node 20, and `loadModel(path)` working with nothing
 * registered. The require/import checks spawn a plain `node` on the built
 * dist/ (the published code), from the repository root.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GGUF } from './test-helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface PackageJson {
  name: string;
  private?: boolean;
  license?: string;
  description?: string;
  keywords?: string[];
  repository?: { type: string; url: string; directory: string };
  engines?: { node?: string };
  files?: string[];
  exports: Record<string, Record<string, unknown>>;
}

const workspaces = ['packages', 'backends', 'examples'].flatMap((dir) =>
  readdirSync(join(root, dir)).map((name) => join(dir, name)).filter((d) => existsSync(join(root, d, 'package.json'))),
);
const all = workspaces.map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as PackageJson }));
const published = all.filter((p) => !p.pkg.private);

/** Packages without a CommonJS build, and why (their `require` condition throws a one-line explanation). */
const ESM_ONLY: Record<string, RegExp> = { '@bitexit/conformance': /ESM-only .*vitest/ };

function node(args: string[]) {
  return spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
}

describe('published package metadata', () => {
  it('finds the workspaces', () => {
    expect(published.length).toBeGreaterThanOrEqual(12);
  });

  it.each(published.map((p) => [p.pkg.name, p] as const))('%s has engines, repository, keywords, license, description', (_, { dir, pkg }) => {
    expect(pkg.engines?.node).toBe('>=20');
    expect(pkg.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/.+\.git$/), directory: dir });
    expect(pkg.keywords?.length).toBeGreaterThan(0);
    expect(pkg.license).toBe('MIT');
    expect(pkg.description?.length).toBeGreaterThan(10);
    expect(pkg.files).toContain('README.md');
  });

  it.each(published.map((p) => [p.pkg.name, p] as const))('%s: every export has require, import and default conditions', (_, { pkg }) => {
    for (const [entry, conditions] of Object.entries(pkg.exports)) {
      expect(Object.keys(conditions), `${pkg.name} ${entry}`).toEqual(expect.arrayContaining(['require', 'import', 'default', 'types']));
      // `require` before `types`, so TypeScript resolves require() to the CommonJS declarations.
      expect(Object.keys(conditions).indexOf('require')).toBeLessThan(Object.keys(conditions).indexOf('types'));
    }
  });
});

function builtEntries(pkg: PackageJson, dir: string): string[] {
  return Object.values(pkg.exports).flatMap((c) => {
    const req = c.require as string | { default: string } | undefined;
    const files = [c.import as string, ...(req === undefined ? [] : [typeof req === 'string' ? req : req.default])];
    return files.map((f) => join(root, dir, f));
  });
}

const unbuilt = published.flatMap(({ pkg, dir }) => builtEntries(pkg, dir).filter((f) => !existsSync(f)));
if (unbuilt.length) console.warn(`[bitexit] skipping the require()/import() checks: not built: ${unbuilt.join(', ')} (run \`npm run build\`)`);

describe.skipIf(unbuilt.length > 0)('require() and import() of every published package on this Node', () => {
  const specifiers = published.flatMap(({ pkg }) => Object.keys(pkg.exports).map((e) => [pkg.name, e === '.' ? pkg.name : `${pkg.name}/${e.slice(2)}`] as const));

  it.each(specifiers)('%s: require(%s) and import() give the same exports', (name, spec) => {
    const required = node(['-e', `const m = require(${JSON.stringify(spec)}); console.log(JSON.stringify(Object.keys(m).filter((k) => k !== '__esModule').sort()))`]);
    if (ESM_ONLY[name]) {
      // (Its import() runs only inside vitest.)
      expect(required.status).not.toBe(0);
      expect(required.stderr).toMatch(ESM_ONLY[name]!);
      return;
    }
    const imported = node(['--input-type=module', '-e', `const m = await import(${JSON.stringify(spec)}); console.log(JSON.stringify(Object.keys(m).sort()))`]);
    expect(imported.status, imported.stderr).toBe(0);
    expect(required.status, required.stderr).toBe(0);
    const keys = JSON.parse(imported.stdout) as string[];
    expect(keys.length).toBeGreaterThan(0);
    expect(JSON.parse(required.stdout)).toEqual(keys);
  });

  it.skipIf(!GGUF)('loadModel(path) works with no backend registered (the CPU backend is registered on demand), from require() and import()', () => {
    const script = (load: string) =>
      `${load}; (async () => { const m = await loadModel(${JSON.stringify(GGUF)}, { contextLength: 64 }); ` +
      `const r = await m.generate('Once upon a time', { maxTokens: 4, temperature: 0 }).result; ` +
      `console.log(JSON.stringify({ backend: m.info.backend, tokens: r.tokens })); await m.dispose(); })();`;
    const cjs = node(['-e', script("const { loadModel } = require('@bitexit/engine')")]);
    expect(cjs.status, cjs.stderr).toBe(0);
    const esm = node(['--input-type=module', '-e', script("import { loadModel } from '@bitexit/engine'")]);
    expect(esm.status, esm.stderr).toBe(0);
    const a = JSON.parse(cjs.stdout) as { backend: string; tokens: number[] };
    expect(a.backend).toBe('cpu');
    expect(a.tokens).toHaveLength(4);
    expect(JSON.parse(esm.stdout)).toEqual(a);
  });

  it('a CommonJS and an ES module copy of @bitexit/backend share one backend registry', () => {
    const r = node([
      '--input-type=module',
      '-e',
      `import { createRequire } from 'node:module'; const require = createRequire(import.meta.url + '/');
       const cjs = require('@bitexit/backend'); const esm = await import('@bitexit/backend');
       (await import('@bitexit/backend-cpu')).registerCpuBackend();
       console.log(cjs.registeredBackends().map((p) => p.name).join(), esm.registeredBackends().map((p) => p.name).join(), cjs.registerBackend === esm.registerBackend);`,
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('cpu cpu false');
  });
});
