import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

// A hang is a failure: keep each fuzz test well under the suite's 60 s default.
vi.setConfig({ testTimeout: 15_000 });
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { fixturePath } from '../node/fixtures.js';
import { decodeToF32 } from '../numeric.js';
import { TracingSource, expectBitexitError, expectCleanOutcome, flipRandomBytes, rng } from '../internal/testing.js';
import { readGguf, type GgufFile } from './reader.js';
import { GGUF_VALUE_TYPE_IDS, type GgufMetadataValue } from './types.js';
import { encodeGguf } from './writer.js';
import { syntheticSpec } from './testing.js';

const GGUF_PATH = fixturePath('stories260K/stories260K.gguf');
const NAME = 'fuzz.gguf';

/** Parses, then reads and decodes every tensor: the whole pipeline a loader runs. */
async function parseAll(bytes: Uint8Array, name = NAME): Promise<GgufFile> {
  const g = await readGguf(new TracingSource(name, bytes), { chunkSize: 256 });
  for (const t of g.tensors) {
    const raw = await g.readTensorBytes(t);
    expect(raw.byteLength).toBe(t.byteLength);
    if (t.dtype) decodeToF32(await g.readTensor(t));
  }
  return g;
}

/** Serialized size of a metadata value (independent of the writer, to locate section boundaries). */
function valueSize(v: GgufMetadataValue): number {
  const enc = (s: string) => new TextEncoder().encode(s).length;
  const fixed: Record<string, number> = { uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, bool: 1, uint64: 8, int64: 8, float64: 8 };
  if (v.type === 'string') return 8 + enc(v.value);
  if (v.type !== 'array') return fixed[v.type];
  let n = 12;
  if (v.itemType === 'string') for (const s of v.value) n += 8 + enc(s);
  else if (v.itemType === 'array') for (const a of v.value) n += valueSize(a); // inner arrays: item type + count + items, like the outer one
  else n += v.value.length * fixed[v.itemType];
  return n;
}

/** Offsets where each header section ends: fixed header, each KV, each tensor info, data start, each tensor end. */
function boundaries(g: GgufFile): number[] {
  const out = [4, 8, 16, 24];
  let pos = 24;
  for (const [k, v] of g.metadata) {
    pos += 8 + new TextEncoder().encode(k).length + 4 + valueSize(v);
    out.push(pos);
  }
  for (const t of g.tensors) {
    pos += 8 + new TextEncoder().encode(t.name).length + 4 + 8 * t.dims.length + 4 + 8;
    out.push(pos);
  }
  expect(Math.ceil(pos / g.alignment) * g.alignment).toBe(g.dataOffset); // the walk above is right
  out.push(g.dataOffset);
  for (const t of g.tensors) out.push(t.offset, t.offset + t.byteLength!);
  return out;
}

/** Little builder for hand-made hostile headers. */
class B {
  parts: number[] = [];
  u32(v: number) {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number) {
    let b = BigInt(v);
    for (let i = 0; i < 8; i++) {
      this.parts.push(Number(b & 0xffn));
      b >>= 8n;
    }
    return this;
  }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.parts.push(...b);
    return this;
  }
  raw(...b: number[]) {
    this.parts.push(...b);
    return this;
  }
  head(nTensors: number | bigint, nKv: number | bigint, version = 3) {
    return this.u32(0x46554747).u32(version).u64(nTensors).u64(nKv);
  }
  pad(n: number) {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  bytes() {
    return new Uint8Array(this.parts);
  }
}
const T = GGUF_VALUE_TYPE_IDS;

describe('GGUF fuzz: synthetic file', async () => {
  const bytes = await encodeGguf(syntheticSpec());
  const good = await parseAll(bytes);
  const lastEnd = Math.max(...good.tensors.map((t) => t.offset + t.byteLength!));

  it('rejects truncation at every byte before the end of the last tensor', async () => {
    for (let len = 0; len < lastEnd; len++) {
      const e = await expectBitexitError(NAME, () => parseAll(bytes.subarray(0, len)));
      expect(e).toBeInstanceOf(ModelFormatError);
    }
    // Only trailing padding missing: every tensor is intact, so the file still loads.
    await parseAll(bytes.subarray(0, lastEnd));
  });

  it('survives 400 random byte flips (clean error or success, never a crash)', async () => {
    const random = rng(1234);
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      // Mostly flip the header, sometimes anywhere.
      const limit = random() < 0.8 ? good.dataOffset : bytes.length;
      const mutated = flipRandomBytes(bytes, random, 1 + Math.floor(random() * 4), limit);
      const src = new TracingSource(NAME, mutated);
      const e = await expectCleanOutcome(NAME, async () => {
        const g = await readGguf(src, { chunkSize: 256 });
        for (const t of g.tensors) if (t.dtype) decodeToF32(await g.readTensor(t));
      });
      if (e) rejected++;
      expect(src.maxRead).toBeLessThanOrEqual(mutated.length);
    }
    expect(rejected).toBeGreaterThan(100); // the flips really hit structure
  });

  it('survives random 64-bit values written over counts, lengths, dims and offsets', async () => {
    const random = rng(99);
    const offsets = boundaries(good).filter((o) => o + 8 <= good.dataOffset);
    const huge = [2n ** 63n, 2n ** 60n, 2n ** 53n, 2n ** 40n, 2n ** 32n - 1n, 1n << 31n, 0xffffffffffffffffn];
    for (let i = 0; i < 300; i++) {
      const m = bytes.slice();
      const at = offsets[Math.floor(random() * offsets.length)] + (random() < 0.5 ? 0 : Math.floor(random() * 16));
      if (at + 8 > m.length) continue;
      const v = random() < 0.5 ? huge[Math.floor(random() * huge.length)] : BigInt(Math.floor(random() * 2 ** 40));
      new DataView(m.buffer).setBigUint64(at, v, true);
      await expectCleanOutcome(NAME, () => parseAll(m));
    }
  });
});

describe.skipIf(!GGUF_PATH)('GGUF fuzz: stories260K.gguf', () => {
  const bytes = GGUF_PATH ? new Uint8Array(readFileSync(GGUF_PATH)) : new Uint8Array();

  it('rejects truncation at every section boundary (and one byte either side)', async () => {
    const g = await readGguf(new TracingSource(NAME, bytes));
    const points = new Set<number>();
    for (const b of boundaries(g)) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d < bytes.length) points.add(b + d);
    expect(points.size).toBeGreaterThan(200);
    for (const len of points) await expectBitexitError(NAME, () => readGguf(new TracingSource(NAME, bytes.subarray(0, len))));
  });

  it('rejects truncation at 300 random points', async () => {
    const random = rng(42);
    for (let i = 0; i < 300; i++) {
      const len = Math.floor(random() * bytes.length);
      await expectBitexitError(NAME, () => readGguf(new TracingSource(NAME, bytes.subarray(0, len))));
    }
  });

  it('survives 150 random header byte flips', async () => {
    const g = await readGguf(new TracingSource(NAME, bytes));
    const random = rng(5);
    for (let i = 0; i < 150; i++) {
      const m = flipRandomBytes(bytes, random, 1 + Math.floor(random() * 3), g.dataOffset);
      await expectCleanOutcome(NAME, () => readGguf(new TracingSource(NAME, m)));
    }
  });
});

describe('GGUF hostile headers', () => {
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty file', new Uint8Array(0), /truncated/],
    ['wrong magic', new B().u32(0x46554746).u32(3).pad(16).bytes(), /not a GGUF file/],
    ['safetensors-like', new Uint8Array(64).fill(0x7b), /not a GGUF file/],
    ['version 1', new B().u32(0x46554747).u32(1).pad(16).bytes(), /unsupported GGUF version 1/],
    ['version 4', new B().u32(0x46554747).u32(4).pad(16).bytes(), /unsupported GGUF version 4/],
    ['big-endian', new B().u32(0x46554747).u32(0x03000000).pad(16).bytes(), /big-endian/],
    ['kv count 2^62', new B().head(0, 2n ** 62n).pad(64).bytes(), /metadata count/],
    ['kv count 2^63', new B().head(0, 2n ** 63n).pad(64).bytes(), /absurdly large/],
    ['tensor count 2^40', new B().head(2n ** 40n, 0).pad(64).bytes(), /tensor count/],
    ['key length 2^60', new B().head(0, 1).u64(2n ** 60n).pad(32).bytes(), /length 1152921504606846976/],
    ['key length 2^64-1', new B().head(0, 1).u64(2n ** 64n - 1n).pad(32).bytes(), /length/],
    ['string value length 2^60', new B().head(0, 1).str('k').u32(T.string).u64(2n ** 60n).pad(16).bytes(), /length/],
    ['array count 2^40', new B().head(0, 1).str('k').u32(T.array).u32(T.uint8).u64(2n ** 40n).pad(64).bytes(), /claims 1099511627776 items/],
    ['string array count 2^40', new B().head(0, 1).str('k').u32(T.array).u32(T.string).u64(2n ** 40n).pad(64).bytes(), /claims/],
    [
      'string item length 2^60',
      new B().head(0, 1).str('k').u32(T.array).u32(T.string).u64(2).str('ok').u64(2n ** 60n).pad(16).bytes(),
      /string 1 of array 'k'.*length/,
    ],
    ['unknown value type', new B().head(0, 1).str('k').u32(13).pad(16).bytes(), /unknown value type 13/],
    ['unknown array item type', new B().head(0, 1).str('k').u32(T.array).u32(77).u64(1).pad(16).bytes(), /unknown value type 77/],
    ['bool byte 2', new B().head(0, 1).str('k').u32(T.bool).raw(2).pad(16).bytes(), /invalid byte 2/],
    ['duplicate key', new B().head(0, 2).str('k').u32(T.uint8).raw(1).str('k').u32(T.uint8).raw(2).pad(16).bytes(), /duplicate metadata key 'k'/],
    ['alignment 0', new B().head(0, 1).str('general.alignment').u32(T.uint32).u32(0).pad(32).bytes(), /not a power of two/],
    ['alignment 48', new B().head(0, 1).str('general.alignment').u32(T.uint32).u32(48).pad(32).bytes(), /not a power of two/],
    ['alignment string', new B().head(0, 1).str('general.alignment').u32(T.string).str('32').pad(32).bytes(), /must be an integer/],
    ['alignment 2^64-1', new B().head(0, 1).str('general.alignment').u32(T.uint64).u64(2n ** 64n - 1n).pad(32).bytes(), /not a power of two/],
    ['5 dims', new B().head(1, 0).str('t').u32(5).pad(80).bytes(), /5 dimensions/],
    ['dims 2^40 x 2^40', new B().head(1, 0).str('t').u32(2).u64(2n ** 40n).u64(2n ** 40n).u32(0).u64(0).pad(32).bytes(), /absurd dimensions/],
    ['dim 2^63', new B().head(1, 0).str('t').u32(1).u64(2n ** 63n).u32(0).u64(0).pad(32).bytes(), /absurdly large/],
    ['unknown ggml type at a misaligned offset', new B().head(1, 0).str('t').u32(1).u64(4).u32(99).u64(4).pad(32).bytes(), /not aligned/],
    ['unknown ggml type past the end', new B().head(1, 0).str('t').u32(1).u64(4).u32(99).u64(2n ** 40n).pad(32).bytes(), /past the end/],
    ['q8_0 row 16', new B().head(1, 0).str('t').u32(1).u64(16).u32(8).u64(0).pad(64).bytes(), /block size 32/],
    ['misaligned offset', new B().head(1, 0).str('t').u32(1).u64(1).u32(0).u64(4).pad(64).bytes(), /not aligned/],
    ['offset past end', new B().head(1, 0).str('t').u32(1).u64(1).u32(0).u64(2n ** 40n).pad(64).bytes(), /past the end/],
    ['tensor past end', new B().head(1, 0).str('t').u32(1).u64(64).u32(0).u64(0).pad(100).bytes(), /past the end/],
    [
      'overlapping tensors',
      new B().head(2, 0).str('a').u32(1).u64(16).u32(0).u64(0).str('b').u32(1).u64(16).u32(0).u64(32).pad(200).bytes(),
      /overlap/,
    ],
    ['duplicate tensor', new B().head(2, 0).str('a').u32(1).u64(1).u32(0).u64(0).str('a').u32(1).u64(1).u32(0).u64(32).pad(100).bytes(), /duplicate tensor name/],
  ];

  it.each(cases)('%s', async (_label, bytes, re) => {
    const src = new TracingSource('hostile.gguf', bytes);
    const e = await expectBitexitError('hostile.gguf', () => readGguf(src));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(re);
    expect(src.maxRead).toBeLessThanOrEqual(Math.max(bytes.length, 0));
  });

  it.each([
    ['an id newer than this build', 99, 'TYPE_99'],
    ['removed type 4 (Q4_2, layout unknown)', 4, 'TYPE_4'],
  ])('lists a tensor of %s without its size and refuses only to read it', async (_label, id, name) => {
    const bytes = new B().head(2, 0).str('t').u32(1).u64(4).u32(id).u64(0).str('f').u32(1).u64(4).u32(0).u64(32).pad(64).bytes();
    const g = await readGguf(new TracingSource('new.gguf', bytes));
    expect(g.tensors[0]).toMatchObject({ name: 't', ggmlType: id, typeName: name, byteLength: null, dtype: null, decodable: false, shape: [4] });
    expect(g.tensors[1]).toMatchObject({ name: 'f', typeName: 'F32', byteLength: 16, decodable: true });
    for (const read of [() => g.readTensor('t'), () => g.readTensorBytes('t'), () => g.readTensorF32('t')]) {
      const e = await expectBitexitError('new.gguf', read);
      expect(e).toBeInstanceOf(UnsupportedTensorTypeError);
      expect(e.message).toContain(name);
    }
    expect(await g.readTensorF32('f')).toEqual(new Float32Array(4));
  });

  it('limits array nesting depth', async () => {
    const b = new B().head(0, 1).str('deep').u32(T.array);
    for (let i = 0; i < 200; i++) b.u32(T.array).u64(1);
    b.u32(T.uint8).u64(0).pad(16);
    const e = await expectBitexitError('deep.gguf', () => readGguf(new TracingSource('deep.gguf', b.bytes())));
    expect(e.message).toMatch(/deeper than 8/);
  });

  it('reads a legal nested array of depth 3', async () => {
    const b = new B().head(0, 1).str('n').u32(T.array).u32(T.array).u64(2);
    b.u32(T.int32).u64(1).u32(7);
    b.u32(T.array).u64(1).u32(T.string).u64(1).str('z');
    const g = await readGguf(new TracingSource('n.gguf', b.pad(32).bytes()));
    expect(g.getArray('n')).toEqual([[7], [['z']]]);
  });

  it('keeps uint64 beyond 2^53 as bigint in metadata but rejects it as a size', async () => {
    const b = new B().head(0, 1).str('big').u32(T.uint64).u64(2n ** 60n + 1n).pad(32);
    const g = await readGguf(new TracingSource('big.gguf', b.bytes()));
    expect(g.metadata.get('big')).toEqual({ type: 'uint64', value: 2n ** 60n + 1n });
    expect(() => g.getNumber('big')).toThrow(ModelFormatError);
  });
});
