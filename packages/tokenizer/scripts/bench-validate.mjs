// Bundles src/bench/validate.ts from the TypeScript sources and runs it.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(pkg, 'node_modules', '.cache', 'bitexit-bench', 'validate.js');
await build({ entryPoints: [join(pkg, 'src/bench/validate.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile, conditions: ['bitexit-source'], banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }, logLevel: 'error' });
await import(new URL(`file://${outfile}`).href);
