/**
 * Rebuilds packages/format/test-vectors/bx/*.bin and *.json from the
 * definitions in src/bx/vectors.ts. Run from packages/format:
 *   npx vite-node scripts/gen-bx-vectors.ts
 * The output is deterministic; src/bx/vectors.test.ts fails when the
 * checked-in files differ from what this script writes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeBx } from '../src/bx/codec.js';
import { BX_VECTOR_SPECS, vectorJson, vectorMatrix } from '../src/bx/vectors.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-vectors', 'bx');
mkdirSync(dir, { recursive: true });
/** Pretty JSON with arrays of numbers and strings on one line. */
function format(value: unknown): string {
  return JSON.stringify(value, null, 1).replace(/\[\s+([^[\]{}]*?)\s+\]/g, (_, inner: string) => `[${inner.split(/,\s+/).join(', ')}]`) + '\n';
}

for (const spec of BX_VECTOR_SPECS) {
  const blob = encodeBx(vectorMatrix(spec), spec.name);
  writeFileSync(join(dir, `${spec.name}.bin`), blob);
  writeFileSync(join(dir, `${spec.name}.json`), format(vectorJson(spec, blob)));
  console.log(`${spec.name}: ${blob.byteLength} bytes, ${vectorJson(spec, blob).bitsPerWeight.toFixed(3)} bits/weight`);
}
