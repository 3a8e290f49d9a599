/**
 * Records llama.cpp's greedy output for the Q4_0 and Q8_0 files that
 * `ggufWithBlockType` makes of the stories260K fixture, into
 * test-vectors/ggml/stories260K-llamacpp-greedy.json (the CLI's tests run the
 * same files through bitexit and compare). Run from packages/format:
 *   npx vite-node scripts/gen-llamacpp-greedy.ts LLAMA_CPP_DIR [COMMIT]
 * LLAMA_CPP_DIR is a llama.cpp build with the llama-simple target
 * (cmake --build build --target llama-simple).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeGguf, ggufWithBlockType, readGguf } from '../src/index.js';
import { fixturePath, openFileSource } from '../src/node/index.js';

const llama = process.argv[2];
if (!llama) throw new Error('usage: gen-llamacpp-greedy.ts LLAMA_CPP_DIR');
const fixture = fixturePath('stories260K/stories260K.gguf');
if (!fixture) throw new Error('the stories260K fixture is missing');
const PROMPTS = ['Once upon a time', 'Lily wanted to'];
const NEW_TOKENS = 64;
// The commit: third argument, else the build's git HEAD (build-llamacpp.sh exports a tree without .git).
const commit = process.argv[3] ?? execFileSync('git', ['-C', llama, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
const tmp = mkdtempSync(join(tmpdir(), 'bitexit-greedy-'));
const files: Record<string, unknown> = {};
try {
  for (const type of ['Q4_0', 'Q8_0'] as const) {
    const bytes = await encodeGguf(ggufWithBlockType(await readGguf(await openFileSource(fixture)), type));
    const path = join(tmp, `stories260K-${type}.gguf`);
    writeFileSync(path, bytes);
    const outputs = PROMPTS.map((prompt) => {
      const out = execFileSync(join(llama, 'build/bin/llama-simple'), ['-m', path, '-n', String(NEW_TOKENS), prompt], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      // llama-simple prints the BOS piece and a space (the prompt's dummy prefix) before the prompt.
      if (!out.startsWith('<s> ')) throw new Error(`unexpected llama-simple output: ${out.slice(0, 40)}`);
      return { prompt, text: out.slice(4).replace(/\n$/, '') };
    });
    files[type] = { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength, outputs };
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const doc = {
  what: 'llama.cpp greedy output (prompt + 64 new tokens) for stories260K re-encoded by ggufWithBlockType; bitexit must print the same text',
  produced_by: `llama.cpp ${commit} examples/simple: llama-simple -m FILE -n ${NEW_TOKENS} PROMPT (greedy sampler)`,
  regenerate: 'cd packages/format && npx vite-node scripts/gen-llamacpp-greedy.ts LLAMA_CPP_DIR [COMMIT]',
  fixture: 'stories260K/stories260K.gguf',
  new_tokens: NEW_TOKENS,
  files,
};
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-vectors', 'ggml', 'stories260K-llamacpp-greedy.json');
writeFileSync(out, JSON.stringify(doc, null, 1) + '\n');
console.log(`wrote ${out}`);
