import { readFileSync } from 'node:fs';
import { readGguf, readLlama2cTokenizer, MemoryByteSource } from '@bitexit/format';
import type { GgufFile } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';

export { fixturePath };

/** Absolute fixture paths, or null (tests skip with a printed reason). */
export const FIX = {
  gguf: fixturePath('stories260K/stories260K.gguf'),
  tok512: fixturePath('stories260K/tok512.bin'),
  devText: fixturePath('text/tinystories-dev.txt'),
  devIds: fixturePath('golden/tokenize-dev.ids'),
  greedy0: fixturePath('golden/stories260K-greedy-0.json'),
  greedy1: fixturePath('golden/stories260K-greedy-1.json'),
  greedy4: fixturePath('golden/stories260K-greedy-4.json'),
  ts656kJson: fixturePath('tinystories-656k/tokenizer.json'),
  ts656kConfig: fixturePath('tinystories-656k/tokenizer_config.json'),
};

export async function loadGguf(path: string): Promise<GgufFile> {
  return readGguf(new MemoryByteSource(path, new Uint8Array(readFileSync(path))));
}

export async function loadTok512(path: string) {
  return readLlama2cTokenizer(new MemoryByteSource(path, new Uint8Array(readFileSync(path))), 512);
}

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readUtf8(path: string): string {
  return readFileSync(path, 'utf8');
}

/** FNV-1a over the little-endian bytes of each id (the hash stored in rust-golden.json). */
export function fnv1a(ids: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const id of ids) {
    for (let k = 0; k < 4; k++) {
      h ^= (id >>> (8 * k)) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h;
}

/** Deterministic PRNG (mulberry32) for randomized checks. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Streams ids one by one; returns the chunks (flush last). */
export function streamChunks(dec: { push(id: number): string; flush(): string }, ids: readonly number[]): string[] {
  const out = ids.map((id) => dec.push(id));
  out.push(dec.flush());
  return out;
}
