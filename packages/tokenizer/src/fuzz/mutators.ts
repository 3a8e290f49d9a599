/**
 * Seeded mutators shared by the fuzz tests (src/fuzz.test.ts) and the fuzz
 * campaign (src/fuzz/): structural mutations of JSON documents, hostile GGUF
 * metadata values, and byte-level damage of binary files.
 */
import { ggufValue } from '@bitexit/format';
import type { GgufMetadataValue } from '@bitexit/format';

export type Rand = () => number;

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The PRNG of case `index` of a campaign seeded with `seed` (any case can be regenerated alone). */
export function caseRng(seed: number, index: number): Rand {
  return rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

export function pick<T>(r: Rand, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

export function int(r: Rand, n: number): number {
  return Math.floor(r() * n);
}

/** 1..max, log-uniform (big values stay possible but rare, so a case stays cheap on average). */
export function logInt(r: Rand, max: number): number {
  return Math.max(1, Math.floor(Math.exp(r() * Math.log(max))));
}

/** Nested arrays `depth` deep around `inner`, built without recursion. */
export function nest(inner: unknown, depth: number): unknown {
  let v = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Values a hostile file might put anywhere. */
export function hostileValue(r: Rand): unknown {
  const choices: (() => unknown)[] = [
    () => null,
    () => -1,
    () => 1e12,
    () => 2 ** 53 + 2,
    () => 0.5,
    () => '',
    () => 'x'.repeat(20_000),
    () => '\u0000\ud800',
    () => true,
    () => [],
    () => ({}),
    () => [null, 3, 'a', ['b', 'c']],
    () => ({ type: 'BPE' }),
    () => ({ a: -7, b: 1e9 }),
    () => Array.from({ length: 50 }, (_, i) => [i, 'x']),
    // Shapes of the issue #18 findings: deep nesting, long strings, wrong-but-plausible types.
    () => nest(pick(r, [1, 'a', ['a', 0]]), logInt(r, 5000)),
    () => 'y'.repeat(logInt(r, 2_000_000)),
    () => pick(r, ['5', '-1', 'Removed', 'Isolated', '▁', ' ', 'always', 'first', 'never']),
    () => pick(r, [0, 1, 100, 255, 256, 65535, 2 ** 21, 2 ** 31, -0, Number.MAX_VALUE, 1e-300]),
    () => ({ type: pick(r, ['Sequence', 'Metaspace', 'ByteLevel', 'Split', 'Replace', 'FixedLength', 'Prepend', 'NFKC', 'Unigram', 'WordPiece']) }),
  ];
  return pick(r, choices)();
}

/**
 * Replaces (or deletes, or repeats, or nests) one value at a random path of
 * depth up to 5 of a JSON document. Copy on write: only the objects on the
 * path are copied, so the seed is never modified and big seeds stay cheap.
 */
export function mutateJson(doc: unknown, r: Rand): unknown {
  const copy = (v: unknown): Record<string, unknown> | unknown[] => (Array.isArray(v) ? v.slice() : { ...(v as Record<string, unknown>) });
  if (doc === null || typeof doc !== 'object') return hostileValue(r);
  const root = copy(doc);
  let node: Record<string, unknown> | unknown[] = root;
  for (let depth = 0; depth < 5; depth++) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
    if (keys.length === 0) break;
    const k = pick(r, keys as (string | number)[]);
    const child = (node as Record<string | number, unknown>)[k];
    const stop = r() < 0.3 || child === null || typeof child !== 'object';
    if (stop) {
      const roll = r();
      if (roll < 0.15 && !Array.isArray(node)) delete (node as Record<string, unknown>)[k as string];
      else if (roll < 0.25 && Array.isArray(node)) {
        // Repeat the whole array (long chains, as [Split, ByteLevel] x 100).
        const items = node.slice();
        const times = 1 + int(r, 60);
        for (let t = 0; t < times && node.length < 20_000; t++) node.push(...items);
      } else if (roll < 0.32 && typeof child === 'object' && child !== null) {
        (node as Record<string | number, unknown>)[k] = nest(child, 1 + int(r, 200));
      } else (node as Record<string | number, unknown>)[k] = hostileValue(r);
      return root;
    }
    const c = copy(child);
    (node as Record<string | number, unknown>)[k] = c;
    node = c;
  }
  return root;
}

/** Hostile replacements for a tokenizer.* GGUF key (null: delete it); `n` is the vocabulary size. */
export function hostileGgufValue(r: Rand, n: number): GgufMetadataValue | null {
  const strings = (k: number, f: (i: number) => string) => ggufValue.strings(Array.from({ length: k }, (_, i) => f(i)));
  const choices: (() => GgufMetadataValue | null)[] = [
    () => null,
    () => ggufValue.uint32(0xffffffff),
    () => ggufValue.uint32(int(r, 2 * n + 2)),
    () => ggufValue.uint32(614525732),
    () => ggufValue.int32(-1),
    () => ggufValue.uint64(2n ** 63n),
    () => ggufValue.string('llama'),
    () => ggufValue.string(pick(r, ['gpt2', 'llama-bpe', 'qwen2', 'bert', ''])),
    () => ggufValue.bool(r() < 0.5),
    () => ggufValue.float32(Number.NaN),
    () => ggufValue.float32(1.5),
    () => strings(0, () => ''),
    () => strings(n + 7, (i) => `t${i}`),
    () => strings(Math.max(1, n - 9), (i) => `t${i}`),
    () => strings(n, () => 'same'),
    () => strings(n, (i) => (i % 3 === 0 ? '' : 'x'.repeat(i % 300))),
    () => strings(n, (i) => `<0x${(i % 300).toString(16)}>`),
    () => ggufValue.numbers('float32', Array.from({ length: n }, (_, i) => (i % 2 ? Number.NaN : -Infinity))),
    () => ggufValue.numbers('int32', Array.from({ length: n }, (_, i) => (i % 7) - 3 + (i % 5 === 0 ? 1e6 : 0))),
    () => ggufValue.numbers('uint8', Array.from({ length: 3 }, () => 1)),
    () => ggufValue.arrays([ggufValue.strings(['a']), ggufValue.strings(['b'])]),
    () => strings(Math.min(n, 50), (i) => (i % 2 ? 'a b' : 'a b c d')),
  ];
  return pick(r, choices)();
}

const INTERESTING_U32 = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/**
 * Byte-level damage of a binary file: bit flips, random bytes, interesting
 * 32/64-bit integers, truncation, insertion, deletion and duplication. With
 * `hot` > 0, half the edits fall in the first `hot` bytes (the header).
 */
export function mutateBytes(input: Uint8Array, r: Rand, hot = 0): Uint8Array {
  let b = input.slice();
  const at = () => (hot > 0 && r() < 0.5 ? int(r, Math.min(hot, b.length)) : int(r, b.length));
  const edits = 1 + int(r, 4);
  for (let e = 0; e < edits && b.length > 0; e++) {
    const op = int(r, 9);
    const p = at();
    if (op === 0) b[p] ^= 1 << int(r, 8);
    else if (op === 1) b[p] = int(r, 256);
    else if (op === 2 || op === 3) {
      const v = pick(r, INTERESTING_U32);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      if (p + 8 <= b.length && op === 3) {
        dv.setUint32(p, v, true);
        dv.setUint32(p + 4, r() < 0.5 ? 0 : v, true);
      } else if (p + 4 <= b.length) dv.setUint32(p, v, true);
    } else if (op === 4) b = b.subarray(0, p).slice();
    else if (op === 5) {
      const n = 1 + int(r, 16);
      const out = new Uint8Array(b.length + n);
      out.set(b.subarray(0, p));
      for (let i = 0; i < n; i++) out[p + i] = int(r, 256);
      out.set(b.subarray(p), p + n);
      b = out;
    } else if (op === 6) {
      const tail = b.subarray(Math.min(b.length, p + 1 + int(r, 16)));
      const out = new Uint8Array(p + tail.length);
      out.set(b.subarray(0, p));
      out.set(tail, p);
      b = out;
    } else if (op === 7) {
      // Copy a chunk over another place (moves lengths and offsets around).
      const n = 1 + int(r, 32);
      const src = int(r, b.length);
      b.copyWithin(p, src, Math.min(b.length, src + n));
    } else {
      b[p] = pick(r, [0, 0xff, 0x7f, 0x80, 0x22, 0x7b, 0x5b, 0x5c]); // also JSON structure chars: " { [ \
    }
  }
  return b;
}
