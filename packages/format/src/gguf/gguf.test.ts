import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '../byte-source.js';
import { MemoryByteSink, type ByteSink } from '../byte-sink.js';
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { fixturePath } from '../node/fixtures.js';
import { decodeToF32 } from '../numeric.js';
import { readGguf } from './reader.js';
import { GGML_TYPES, ggmlTypeByName, ggmlTypeInfo, ggufValue } from './types.js';
import { syntheticSpec } from './testing.js';
import { encodeGguf, ggufWriteSpecFrom, writeGguf, type GgufWriteSpec } from './writer.js';

const GGUF_PATH = fixturePath('stories260K/stories260K.gguf');
const FIXTURE_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const src = (name: string, b: Uint8Array) => new MemoryByteSource(name, b);

describe.skipIf(!GGUF_PATH)('stories260K.gguf', () => {
  const bytes = GGUF_PATH ? new Uint8Array(readFileSync(GGUF_PATH)) : new Uint8Array();

  it('has the documented header facts', async () => {
    expect(sha256(bytes)).toBe(FIXTURE_SHA256);
    const g = await readGguf(src(GGUF_PATH!, bytes));
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    expect(g.getString('general.architecture')).toBe('llama');
    expect(g.getNumber('llama.block_count')).toBe(5);
    expect(g.getNumber('llama.embedding_length')).toBe(64);
    expect(g.getNumber('llama.feed_forward_length')).toBe(172);
    expect(g.getNumber('llama.attention.head_count')).toBe(8);
    expect(g.getNumber('llama.attention.head_count_kv')).toBe(4);
    expect(g.getNumber('llama.rope.dimension_count')).toBe(8);
    expect(g.getNumber('llama.context_length')).toBe(2048);
    expect(g.getNumber('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(g.getString('tokenizer.ggml.model')).toBe('llama');
    expect(g.getNumber('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(g.getNumber('tokenizer.ggml.eos_token_id')).toBe(2);
    const tokens = g.getStringArray('tokenizer.ggml.tokens')!;
    expect(tokens.length).toBe(512);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(g.getArray('tokenizer.ggml.scores')!.length).toBe(512);
    expect(g.getNumberArray('tokenizer.ggml.token_type')!.slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(g.metadata.get('llama.block_count')).toEqual({ type: 'uint32', value: 5 });

    expect(g.tensors.length).toBe(48); // 3 global + 5 blocks x 9
    const emb = g.tensor('token_embd.weight')!;
    expect(emb.shape).toEqual([512, 64]);
    expect(emb.dims).toEqual([64, 512]);
    expect(emb.typeName).toBe('F32');
    expect(emb.byteLength).toBe(512 * 64 * 4);
    expect(g.tensor('blk.0.attn_k.weight')!.shape).toEqual([32, 64]);
    expect(g.tensor('blk.4.ffn_down.weight')!.shape).toEqual([64, 172]);
    expect(g.tensor('output_norm.weight')!.shape).toEqual([64]);
    for (const t of g.tensors) {
      expect(t.offset % 32).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(g.dataOffset);
    }
    const last = g.tensors[g.tensors.length - 1];
    expect(last.offset + last.byteLength!).toBe(bytes.length);
  });

  it('reads tensors by range', async () => {
    const g = await readGguf(src(GGUF_PATH!, bytes));
    const t = await g.readTensor('output_norm.weight');
    expect(t.dtype).toBe('f32');
    expect(t.shape).toEqual([64]);
    const info = g.tensor('output_norm.weight')!;
    const expected = new Float32Array(bytes.slice(info.offset, info.offset + 256).buffer);
    expect(Array.from(decodeToF32(t))).toEqual(Array.from(expected));
    await expect(g.readTensor('nope')).rejects.toThrow(ModelFormatError);
  });

  it('never reads tensor data while parsing the header', async () => {
    const reads: Array<[number, number]> = [];
    const s = new (class extends MemoryByteSource {
      override async read(o: number, l: number) {
        reads.push([o, l]);
        return super.read(o, l);
      }
    })(GGUF_PATH!, bytes);
    const g = await readGguf(s, { chunkSize: 4096 });
    expect(reads.length).toBeGreaterThan(2); // really chunked
    // Reads stay in the header: each starts before the data section, and the
    // total is the header plus at most one chunk of read-ahead.
    for (const [o] of reads) expect(o).toBeLessThan(g.dataOffset);
    const total = reads.reduce((a, [, l]) => a + l, 0);
    expect(total).toBeLessThanOrEqual(g.dataOffset + 4096);
    // Small chunks (values straddling chunk edges) parse to the same result.
    const whole = await readGguf(src(GGUF_PATH!, bytes));
    expect([...g.metadata]).toEqual([...whole.metadata]);
    expect(g.tensors).toEqual(whole.tensors);
    const tiny = await readGguf(src(GGUF_PATH!, bytes), { chunkSize: 7 });
    expect([...tiny.metadata]).toEqual([...whole.metadata]);
  });

  it('round-trips byte-identically through the writer', async () => {
    const g = await readGguf(src(GGUF_PATH!, bytes));
    const out = await encodeGguf(ggufWriteSpecFrom(g));
    expect(out.length).toBe(bytes.length);
    expect(sha256(out)).toBe(FIXTURE_SHA256);
  });
});

describe('synthetic GGUF', () => {
  it('round-trips every metadata type and tensor type', async () => {
    const spec = syntheticSpec();
    const bytes = await encodeGguf(spec);
    const g = await readGguf(src('synthetic.gguf', bytes));
    expect(g.version).toBe(3);
    expect([...g.metadata.keys()]).toEqual(spec.metadata.map(([k]) => k));
    for (const [k, v] of spec.metadata) {
      const got = g.metadata.get(k)!;
      // 64-bit values come back as numbers when safe.
      const norm = (x: unknown): unknown =>
        typeof x === 'bigint' && x >= -(2n ** 53n) + 1n && x <= 2n ** 53n - 1n ? Number(x) : Array.isArray(x) ? x.map(norm) : x;
      expect(JSON.stringify(got, (_, x) => (typeof x === 'bigint' ? `${x}n` : norm(x)))).toBe(
        JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : norm(x))),
      );
    }
    expect(g.metadata.get('t.u64')).toEqual({ type: 'uint64', value: 2n ** 64n - 1n });
    expect(g.metadata.get('t.i64')).toEqual({ type: 'int64', value: -(2n ** 63n) });
    expect(g.getString('t.str')).toBe('héllo ▁wörld 🦙');
    expect(g.getBool('t.bool')).toBe(true);
    expect(g.getArray('t.arr.nested')).toEqual([['x', 'y'], [1, 2, 3], [[false]]]);
    expect(g.getArray('t.arr.u64')).toEqual([1, 2n ** 60n]);
    // Re-encoding what was read reproduces the bytes exactly.
    expect(sha256(await encodeGguf(ggufWriteSpecFrom(g)))).toBe(sha256(bytes));

    for (const t of spec.tensors) {
      const info = g.tensor(t.name)!;
      expect(info.shape).toEqual(t.shape);
      expect(await g.readTensorBytes(info)).toEqual(t.data);
    }
    const q = await g.readTensor('d.q8_0');
    expect(q.dtype).toBe('q8_0');
    expect(decodeToF32(q).length).toBe(128);
    expect((await g.readTensor('c.bf16')).dtype).toBe('bf16');
    expect(g.tensor('e.q4k')!.typeName).toBe('Q4_K');
    const err = await g.readTensor('e.q4k').catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(err.message).toContain('Q4_K');
    expect(err.message).toContain('synthetic.gguf');
  });

  it('getters reject values of the wrong type', async () => {
    const g = await readGguf(src('x.gguf', await encodeGguf(syntheticSpec())));
    expect(g.getString('missing')).toBeUndefined();
    expect(() => g.getString('t.u8')).toThrow(/expected string/);
    expect(() => g.getNumber('t.str')).toThrow(ModelFormatError);
    expect(() => g.getNumber('t.u64')).toThrow(/too large/);
    expect(g.getNumber('t.u64small')).toBe(12345);
    expect(g.getNumber('t.i64small')).toBe(-5);
    expect(() => g.getBool('t.u8')).toThrow(/expected bool/);
    expect(() => g.getArray('t.u8')).toThrow(/expected array/);
    expect(() => g.getStringArray('t.arr.u8')).toThrow(/array of string/);
    expect(() => g.getNumberArray('t.arr.u64')).toThrow(/too large/);
  });

  it('writes v2 and honours a custom alignment', async () => {
    const spec = { ...syntheticSpec(), version: 2 as const, alignment: 64 };
    const g = await readGguf(src('v2.gguf', await encodeGguf(spec)));
    expect(g.version).toBe(2);
    expect(g.alignment).toBe(64);
    expect(g.metadata.get('general.alignment')).toEqual({ type: 'uint32', value: 64 });
    expect(g.dataOffset % 64).toBe(0);
    for (const t of g.tensors) expect(t.offset % 64).toBe(0);
  });

  it('streams: pulls tensor data one at a time, after the previous was written', async () => {
    const events: string[] = [];
    const sink: ByteSink = {
      async write(b) {
        events.push(`write ${b.byteLength}`);
      },
      async close() {
        events.push('close');
      },
    };
    const mk = (name: string) => ({
      name,
      dtype: 'f32' as const,
      shape: [1 << 18],
      data: async () => {
        events.push(`pull ${name}`);
        return new Uint8Array(1 << 20);
      },
    });
    await writeGguf(sink, { metadata: [], tensors: [mk('a'), mk('b'), mk('c')] });
    const pulls = events.map((e, i) => [e, i] as const).filter(([e]) => e.startsWith('pull'));
    expect(pulls.map(([e]) => e)).toEqual(['pull a', 'pull b', 'pull c']);
    // Between pulling 'a' and pulling 'b' the writer hands a's megabyte to the sink.
    expect(events.slice(pulls[0][1], pulls[1][1])).toContain(`write ${1 << 20}`);
    expect(events[events.length - 1]).toBe('close');
  });

  it('writes to a MemoryByteSink the same bytes as encodeGguf', async () => {
    const sink = new MemoryByteSink();
    await writeGguf(sink, syntheticSpec());
    expect(sink.closed).toBe(true);
    expect(sha256(sink.bytes())).toBe(sha256(await encodeGguf(syntheticSpec())));
  });

  it('rejects invalid write specs with ModelFormatError', async () => {
    const base = syntheticSpec();
    const bad: Array<[string, Partial<GgufWriteSpec>, RegExp]> = [
      ['short data', { tensors: [{ name: 'x', dtype: 'f32', shape: [4], data: new Uint8Array(15) }] }, /15 bytes, expected 16/],
      ['q8_0 row', { tensors: [{ name: 'x', dtype: 'q8_0', shape: [2, 16], data: new Uint8Array(34) }] }, /multiple of 32/],
      ['dup tensor', { tensors: [base.tensors[0], base.tensors[0]] }, /duplicate tensor/],
      ['5 dims', { tensors: [{ name: 'x', dtype: 'f32', shape: [1, 1, 1, 1, 1], data: new Uint8Array(4) }] }, /5 dimensions/],
      ['u8 range', { metadata: [['k', ggufValue.uint8(256)]] }, /not a uint8/],
      ['i32 float', { metadata: [['k', ggufValue.int32(1.5)]] }, /not a int32/],
      ['u64 neg', { metadata: [['k', ggufValue.uint64(-1n)]] }, /out of range/],
      ['unsafe number', { metadata: [['k', ggufValue.uint64(2 ** 60)]] }, /safe integer/],
      ['bad item', { metadata: [['k', { type: 'array', itemType: 'string', value: [1 as unknown as string] }]] }, /not a string/],
      ['dup key', { metadata: [['k', ggufValue.bool(true)], ['k', ggufValue.bool(false)]] }, /duplicate metadata key/],
      ['alignment', { alignment: 48 }, /power of two/],
      ['alignment conflict', { alignment: 64, metadata: [['general.alignment', ggufValue.uint32(32)]] }, /contradicts/],
      ['unknown type', { tensors: [{ name: 'x', dtype: 'f32', ggmlType: 4, shape: [1], data: new Uint8Array(4) }] }, /unknown ggml type 4/],
    ];
    for (const [label, patch, re] of bad) {
      const err = await encodeGguf({ ...base, ...patch, name: 'out.gguf' }).catch((e) => e);
      expect(err, label).toBeInstanceOf(ModelFormatError);
      expect(err.message, label).toMatch(re);
      expect(err.message, label).toContain('out.gguf');
    }
  });
});

describe('ggml type table', () => {
  it('has the ggml.h ids and block sizes', () => {
    const expectType = (name: string, id: number, block: number, size: number) => {
      const t = ggmlTypeByName(name)!;
      expect([t.id, t.blockSize, t.typeSize]).toEqual([id, block, size]);
    };
    expectType('F32', 0, 1, 4);
    expectType('F16', 1, 1, 2);
    expectType('Q4_0', 2, 32, 18);
    expectType('Q4_1', 3, 32, 20);
    expectType('Q5_0', 6, 32, 22);
    expectType('Q5_1', 7, 32, 24);
    expectType('Q8_0', 8, 32, 34);
    expectType('Q8_1', 9, 32, 36);
    expectType('Q2_K', 10, 256, 84);
    expectType('Q3_K', 11, 256, 110);
    expectType('Q4_K', 12, 256, 144);
    expectType('Q5_K', 13, 256, 176);
    expectType('Q6_K', 14, 256, 210);
    expectType('Q8_K', 15, 256, 292);
    expectType('IQ2_XXS', 16, 256, 66);
    expectType('IQ2_XS', 17, 256, 74);
    expectType('IQ3_XXS', 18, 256, 98);
    expectType('IQ1_S', 19, 256, 50);
    expectType('IQ4_NL', 20, 32, 18);
    expectType('IQ3_S', 21, 256, 110);
    expectType('IQ2_S', 22, 256, 82);
    expectType('IQ4_XS', 23, 256, 136);
    expectType('IQ1_M', 29, 256, 56);
    expectType('BF16', 30, 1, 2);
    expectType('TQ1_0', 34, 256, 54);
    expectType('TQ2_0', 35, 256, 66);
    expectType('MXFP4', 39, 32, 17);
    expect(ggmlTypeInfo(4)).toBeUndefined();
    expect(new Set(GGML_TYPES.map((t) => t.id)).size).toBe(GGML_TYPES.length);
    expect(GGML_TYPES.filter((t) => t.dtype).map((t) => t.name)).toEqual(['F32', 'F16', 'Q8_0', 'BF16']);
  });

  it('computes byte lengths of every listed type when reading', async () => {
    const tensors = GGML_TYPES.map((t) => ({
      name: `t${t.id}`,
      dtype: 'f32' as const,
      ggmlType: t.id,
      shape: [3, t.blockSize * 2],
      data: new Uint8Array(t.typeSize * 6),
    }));
    const g = await readGguf(src('types.gguf', await encodeGguf({ metadata: [], tensors })));
    for (const t of GGML_TYPES) {
      const info = g.tensor(`t${t.id}`)!;
      expect(info.typeName).toBe(t.name);
      expect(info.byteLength).toBe(t.typeSize * 6);
      expect(info.nElements).toBe(6 * t.blockSize);
    }
  });
});
