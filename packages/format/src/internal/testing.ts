/* Helpers for this package's tests (not exported from the package). */
import { expect } from 'vitest';
import { MemoryByteSource } from '../byte-source.js';
import { BitexitError } from '../errors.js';

/** Small deterministic PRNG (mulberry32). */
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

/**
 * A MemoryByteSource that records the largest single read, so tests can
 * assert that parsing a hostile file never asks for more than the file holds.
 */
export class TracingSource extends MemoryByteSource {
  maxRead = 0;
  reads = 0;
  override async read(offset: number, length: number): Promise<Uint8Array> {
    this.reads++;
    if (length > this.maxRead) this.maxRead = length;
    return super.read(offset, length);
  }
}

/**
 * Runs `parse` and checks the outcome is either success or a BitexitError
 * whose message names the file. Returns the error (or null on success).
 */
export async function expectCleanOutcome(name: string, parse: () => Promise<unknown>): Promise<BitexitError | null> {
  try {
    await parse();
    return null;
  } catch (e) {
    if (!(e instanceof BitexitError)) {
      throw new Error(`expected a BitexitError, got ${(e as Error)?.name}: ${(e as Error)?.message}`, { cause: e });
    }
    expect(e.message).toContain(name);
    return e;
  }
}

/** Like expectCleanOutcome but the parse must fail. */
export async function expectBitexitError(name: string, parse: () => Promise<unknown>): Promise<BitexitError> {
  const e = await expectCleanOutcome(name, parse);
  if (!e) throw new Error(`expected ${name} to be rejected, but it parsed`);
  return e;
}

export function flipRandomBytes(bytes: Uint8Array, random: () => number, count: number, limit = bytes.length): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < count; i++) {
    const at = Math.floor(random() * limit);
    out[at] ^= 1 + Math.floor(random() * 255);
  }
  return out;
}

export function u64le(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
