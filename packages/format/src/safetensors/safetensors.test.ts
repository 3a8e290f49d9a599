import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

// Fuzz loops below: a hang is a failure.
vi.setConfig({ testTimeout: 15_000 });
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { concat, expectBitexitError, expectCleanOutcome, flipRandomBytes, rng, TracingSource, u64le } from '../internal/testing.js';
import { fixturePath } from '../node/fixtures.js';
import { decodeToF32, encodeBf16, encodeF16, encodeF32 } from '../numeric.js';
import { parseSafetensorsIndex, readSafetensors } from './reader.js';

const ST_PATH = fixturePath('tinystories-656k/model.safetensors');

/** Builds a safetensors file from entries (header keys in the given order, data concatenated). */
function buildSafetensors(
  entries: Array<{ name: string; dtype: string; shape: number[]; data: Uint8Array }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.data.length] };
    off += e.data.length;
  }
  let json = JSON.stringify(header);
  while (json.length % 8) json += ' ';
  const hb = new TextEncoder().encode(json);
  return concat(u64le(BigInt(hb.length)), hb, ...entries.map((e) => e.data));
}

function withHeader(header: unknown, data = new Uint8Array(0), rawLen?: bigint): Uint8Array {
  const hb = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  return concat(u64le(rawLen ?? BigInt(hb.length)), hb, data);
}

const f32 = (...x: number[]) => encodeF32(new Float32Array(x));

function synthetic(): Uint8Array {
  return buildSafetensors(
    [
      { name: 'w.f32', dtype: 'F32', shape: [2, 2], data: f32(1, 2, 3, 4) },
      { name: 'w.f16', dtype: 'F16', shape: [3], data: encodeF16(new Float32Array([0.5, -1, 2])) },
      { name: 'w.bf16', dtype: 'BF16', shape: [1, 2], data: encodeBf16(new Float32Array([3, -4])) },
      { name: 'w.i8', dtype: 'I8', shape: [4], data: new Uint8Array([1, 2, 3, 4]) },
      { name: 'scalar', dtype: 'F32', shape: [], data: f32(7) },
    ],
    { format: 'pt' },
  );
}

describe.skipIf(!ST_PATH)('TinyStories-656K model.safetensors', () => {
  it('lists the expected tensors', async () => {
    const bytes = new Uint8Array(readFileSync(ST_PATH!));
    const st = await readSafetensors(new TracingSource(ST_PATH!, bytes));
    expect(st.metadata.format).toBe('pt');
    expect(st.tensors.length).toBe(2 + 2 * 9); // lm_head, final norm, 9 per layer (embed_tokens is tied to lm_head)
    expect(st.metadata['model.embed_tokens.weight']).toBe('lm_head.weight');
    const shapes = Object.fromEntries(st.tensors.map((t) => [t.name, t.shape]));
    expect(shapes['lm_head.weight']).toEqual([2048, 128]);
    expect(shapes['model.norm.weight']).toEqual([128]);
    expect(shapes['model.layers.0.self_attn.q_proj.weight']).toEqual([128, 128]);
    expect(shapes['model.layers.1.self_attn.k_proj.weight']).toEqual([64, 128]);
    expect(shapes['model.layers.1.mlp.down_proj.weight']).toEqual([128, 384]);
    expect(shapes['model.layers.0.mlp.gate_proj.weight']).toEqual([384, 128]);
    expect(st.tensors.every((t) => t.dtype === 'F32')).toBe(true);
    expect(st.dataOffset).toBe(8 + 2160);
    const last = st.tensors[st.tensors.length - 1];
    expect(last.offset + last.byteLength).toBe(bytes.length);

    const norm = await st.readTensor('model.norm.weight');
    expect(norm.dtype).toBe('f32');
    const info = st.tensor('model.norm.weight')!;
    expect(Array.from(decodeToF32(norm))).toEqual(Array.from(new Float32Array(bytes.slice(info.offset, info.offset + 512).buffer)));
  });

  it('rejects truncation at 200 random points and survives 150 header flips', async () => {
    const bytes = new Uint8Array(readFileSync(ST_PATH!));
    const random = rng(11);
    for (let i = 0; i < 200; i++) {
      const len = Math.floor(random() * bytes.length);
      await expectBitexitError('656k.safetensors', () => readSafetensors(new TracingSource('656k.safetensors', bytes.subarray(0, len))));
    }
    for (let i = 0; i < 150; i++) {
      const m = flipRandomBytes(bytes, random, 1 + Math.floor(random() * 3), 8 + 2160);
      await expectCleanOutcome('656k.safetensors', () => readSafetensors(new TracingSource('656k.safetensors', m)));
    }
  });
});

describe('synthetic safetensors', () => {
  it('reads F32, F16, BF16 and lists other dtypes', async () => {
    const st = await readSafetensors(new TracingSource('s.safetensors', synthetic()));
    expect(st.tensors.map((t) => t.name)).toEqual(['w.f32', 'w.f16', 'w.bf16', 'w.i8', 'scalar']);
    expect(Array.from(decodeToF32(await st.readTensor('w.f32')))).toEqual([1, 2, 3, 4]);
    expect(Array.from(decodeToF32(await st.readTensor('w.f16')))).toEqual([0.5, -1, 2]);
    const b = await st.readTensor('w.bf16');
    expect([b.dtype, b.shape, Array.from(decodeToF32(b))]).toEqual(['bf16', [1, 2], [3, -4]]);
    expect(Array.from(decodeToF32(await st.readTensor('scalar')))).toEqual([7]);
    expect(st.tensor('w.i8')!.dtype).toBe('I8');
    const e = await st.readTensor('w.i8').catch((x) => x);
    expect(e).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(e.message).toMatch(/s\.safetensors.*'w\.i8'.*I8/);
    expect(await st.readTensorBytes('w.i8')).toEqual(new Uint8Array([1, 2, 3, 4]));
    await expect(st.readTensor('missing')).rejects.toThrow(ModelFormatError);
  });

  it('rejects truncation at every byte', async () => {
    const bytes = synthetic();
    for (let len = 0; len < bytes.length; len++) {
      await expectBitexitError('s.safetensors', () => readSafetensors(new TracingSource('s.safetensors', bytes.subarray(0, len))));
    }
  });

  it('survives 400 random byte flips', async () => {
    const bytes = synthetic();
    const random = rng(77);
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      const m = flipRandomBytes(bytes, random, 1 + Math.floor(random() * 3));
      const e = await expectCleanOutcome('s.safetensors', async () => {
        const st = await readSafetensors(new TracingSource('s.safetensors', m));
        for (const t of st.tensors) if (['F32', 'F16', 'BF16'].includes(t.dtype)) decodeToF32(await st.readTensor(t.name));
      });
      if (e) rejected++;
    }
    expect(rejected).toBeGreaterThan(200);
  });

  const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ t: { dtype, shape, data_offsets: offsets } });
  const hostile: Array<[string, Uint8Array, RegExp]> = [
    ['tiny file', new Uint8Array(5), /too short/],
    ['header length 2^40', withHeader({}, new Uint8Array(16), 2n ** 40n), /exceeds the limit/],
    ['header length 2^64-1', withHeader({}, new Uint8Array(16), 2n ** 64n - 1n), /exceeds the limit/],
    ['header length past end', withHeader({}, new Uint8Array(0), 1000n), /truncated/],
    ['header not JSON', withHeader('{"a": [1, 2'), /not valid JSON/],
    ['header an array', withHeader('[1,2,3]'), /does not start with '\{'/],
    ['header null', withHeader('{}null'), /not valid JSON/],
    ['invalid UTF-8', concat(u64le(4n), new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])), /UTF-8/],
    ['unknown dtype', withHeader(entry('Q4', [1], [0, 1]), new Uint8Array(1)), /unknown dtype 'Q4'/],
    ['dtype missing', withHeader({ t: { shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /no dtype/],
    ['negative dim', withHeader(entry('F32', [-1], [0, 4]), new Uint8Array(4)), /invalid shape/],
    ['fractional dim', withHeader(entry('F32', [1.5], [0, 4]), new Uint8Array(4)), /invalid shape/],
    ['shape not array', withHeader(entry('F32', 'abc', [0, 4]), new Uint8Array(4)), /shape/],
    ['huge shape', withHeader(entry('F32', [2 ** 40, 2 ** 40], [0, 4]), new Uint8Array(4)), /absurdly large/],
    ['offsets reversed', withHeader(entry('F32', [1], [4, 0]), new Uint8Array(4)), /invalid data_offsets/],
    ['offsets 3 items', withHeader(entry('F32', [1], [0, 4, 8]), new Uint8Array(8)), /invalid data_offsets/],
    ['offsets huge', withHeader(entry('F32', [1], [2 ** 60, 2 ** 60 + 4]), new Uint8Array(4)), /invalid data_offsets|past the end/],
    ['length mismatch', withHeader(entry('F32', [2], [0, 4]), new Uint8Array(8)), /needs 8 bytes but data_offsets span 4/],
    ['past end', withHeader(entry('F32', [4], [0, 16]), new Uint8Array(8)), /past the end/],
    [
      'overlap',
      withHeader({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, new Uint8Array(12)),
      /overlap/,
    ],
    ['metadata not strings', withHeader({ __metadata__: { a: 1 } }), /__metadata__ value of 'a'/],
    ['entry not object', withHeader({ t: 5 }), /entry is not an object/],
  ];
  it.each(hostile)('rejects: %s', async (_l, bytes, re) => {
    const src = new TracingSource('bad.safetensors', bytes);
    const e = await expectBitexitError('bad.safetensors', () => readSafetensors(src));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(re);
    expect(src.maxRead).toBeLessThanOrEqual(bytes.length);
  });
});

describe('parseSafetensorsIndex', () => {
  it('parses a weight map (object or text)', () => {
    const json = {
      metadata: { total_size: 123 },
      weight_map: { 'a.weight': 'model-00001-of-00002.safetensors', 'b.weight': 'model-00002-of-00002.safetensors', 'c.weight': 'model-00001-of-00002.safetensors' },
    };
    const idx = parseSafetensorsIndex(json, 'model.safetensors.index.json');
    expect(idx.weightMap.get('b.weight')).toBe('model-00002-of-00002.safetensors');
    expect(idx.weightMap.size).toBe(3);
    expect(idx.shards).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    expect(idx.metadata.total_size).toBe(123);
    expect(parseSafetensorsIndex(JSON.stringify(json), 'i.json').weightMap.size).toBe(3);
  });

  it('rejects malformed or hostile indexes', () => {
    const bad: unknown[] = [
      '{not json',
      [],
      null,
      { weight_map: [] },
      { weight_map: { a: 5 } },
      { weight_map: { a: '../../etc/passwd' } },
      { weight_map: { a: '/abs/model.safetensors' } },
      { weight_map: { a: 'C:\\x.safetensors' } },
      { weight_map: { a: 'sub//x.safetensors' } },
    ];
    for (const b of bad) {
      expect(() => parseSafetensorsIndex(b, 'idx.json'), JSON.stringify(b)).toThrow(ModelFormatError);
      expect(() => parseSafetensorsIndex(b, 'idx.json')).toThrow(/idx\.json/);
    }
  });
});

describe('encodeSafetensors', () => {
  it('round-trips through readSafetensors with metadata and aligned data', async () => {
    const { encodeSafetensors, encodeF32, MemoryByteSource, readSafetensors: read } = await import('../index.js');
    const a = Float32Array.of(1, -2, 3.5, 4);
    const bytes = encodeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2, 2], data: encodeF32(a) },
        { name: 'é', dtype: 'F32', shape: [1], data: encodeF32(Float32Array.of(7)) },
      ],
      { format: 'pt' },
    );
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const f = await read(new MemoryByteSource('t.safetensors', bytes));
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(Array.from(new Float32Array((await f.readTensor('a')).data.slice().buffer))).toEqual([1, -2, 3.5, 4]);
    expect(f.tensors.map((t) => t.name)).toEqual(['a', 'é']);
  });
});
