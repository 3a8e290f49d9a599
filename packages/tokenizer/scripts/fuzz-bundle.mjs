import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bundles src/fuzz/{cli,worker}.ts into node_modules/.cache/bitexit-fuzz; returns that folder. */
export async function bundleFuzzer(outdir = join(pkg, 'node_modules', '.cache', 'bitexit-fuzz')) {
  mkdirSync(outdir, { recursive: true });
  await build({
    entryPoints: { cli: join(pkg, 'src/fuzz/cli.ts'), worker: join(pkg, 'src/fuzz/worker.ts') },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir,
    conditions: ['bitexit-source'],
    // Bundled CommonJS dependencies may call require().
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    logLevel: 'error',
  });
  return outdir;
}
