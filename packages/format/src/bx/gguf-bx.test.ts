import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '../byte-source.js';
import { ModelFormatError } from '../errors.js';
import { decodeToF32, encodeF32 } from '../numeric.js';
import { readGguf } from '../gguf/reader.js';
import { BX_TENSORS_KEY, ggufValue } from '../gguf/types.js';
import { encodeGguf, ggufWriteSpecFrom, type GgufWriteSpec } from '../gguf/writer.js';
import { dequantizeBx, encodeBx } from './codec.js';
import { randomBxMatrix } from './testing.js';

const q = encodeBx(randomBxMatrix({ rows: 6, cols: 100, outliers: 3, secondOrder: true, seed: 31 }));
const k = encodeBx(randomBxMatrix({ rows: 4, cols: 64, seed: 32 }));

function spec(): GgufWriteSpec {
  return {
    metadata: [
      ['general.architecture', ggufValue.string('llama')],
      ['bitexit.format.version', ggufValue.uint32(1)],
    ],
    tensors: [
      { name: 'blk.0.attn_q.weight', dtype: 'bx', shape: [6, 100], data: q },
      { name: 'blk.0.attn_norm.weight', dtype: 'f32', shape: [4], data: encodeF32(Float32Array.of(1, 2, 3, 4)) },
      { name: 'blk.0.attn_k.weight', dtype: 'bx', shape: [4, 64], byteLength: k.byteLength, data: async () => k },
    ],
  };
}

describe('bx tensors in GGUF', () => {
  it('writes I8 byte tensors listed in bitexit.bx.tensors and reads them back as bx', async () => {
    const bytes = await encodeGguf(spec());
    const g = await readGguf(new MemoryByteSource('m.gguf', bytes));
    expect(g.getStringArray(BX_TENSORS_KEY)).toEqual(['blk.0.attn_q.weight', 'blk.0.attn_k.weight']);
    expect(g.getNumber('bitexit.format.version')).toBe(1);
    const info = g.tensor('blk.0.attn_q.weight')!;
    expect(info).toMatchObject({ typeName: 'I8', dims: [q.byteLength], dtype: 'bx', shape: [6, 100], nElements: 600, byteLength: q.byteLength });
    const t = await g.readTensor(info);
    expect(t.dtype).toBe('bx');
    expect(t.shape).toEqual([6, 100]);
    expect(t.data).toEqual(q);
    expect(decodeToF32(t)).toEqual(dequantizeBx(q));
    expect((await g.readTensor('blk.0.attn_k.weight')).data).toEqual(k);
    // Copying the file tensor by tensor reproduces it byte for byte.
    expect(await encodeGguf(ggufWriteSpecFrom(g))).toEqual(bytes);
  });

  it('without the key, the tensors are plain I8 (any GGUF reader can list them)', async () => {
    const bytes = await encodeGguf(spec());
    const s = new TextEncoder().encode(BX_TENSORS_KEY);
    // Rename the key in place so it no longer matches.
    const at = bytes.findIndex((_, i) => s.every((c, j) => bytes[i + j] === c));
    const renamed = bytes.slice();
    renamed[at] = 'X'.charCodeAt(0);
    const g = await readGguf(new MemoryByteSource('m.gguf', renamed));
    expect(g.tensor('blk.0.attn_q.weight')).toMatchObject({ typeName: 'I8', dtype: null, shape: [q.byteLength] });
  });

  it('writer refuses inconsistent bx tensors', async () => {
    const bad: Array<[string, (s: GgufWriteSpec) => void]> = [
      ['shape mismatch', (s) => (s.tensors[0].shape = [6, 101])],
      ['lazy without byteLength', (s) => delete s.tensors[2].byteLength],
      ['1-D shape', (s) => (s.tensors[0].shape = [600])],
      ['key lists other tensors', (s) => s.metadata.push([BX_TENSORS_KEY, ggufValue.strings(['blk.0.attn_q.weight'])])],
      ['lazy data of another length', (s) => (s.tensors[2].byteLength = k.byteLength + 32)],
    ];
    for (const [what, mutate] of bad) {
      const s = spec();
      mutate(s);
      await expect(encodeGguf(s), what).rejects.toThrow(ModelFormatError);
    }
  });

  it('reader refuses a key naming missing or non-I8 tensors, and corrupt blobs', async () => {
    const s1 = spec();
    s1.metadata.push([BX_TENSORS_KEY, ggufValue.strings(['blk.0.attn_q.weight', 'blk.0.attn_k.weight'])]);
    const good = await encodeGguf(s1);
    await expect(readGguf(new MemoryByteSource('m.gguf', good))).resolves.toBeDefined();

    // Files whose key names a missing or a non-I8 tensor (written under another key name, then patched).
    for (const listed of [['nope'], ['x'], ['x', 'x']]) {
      const bytes = await encodeGguf({
        metadata: [['bitexit.bx.tensorZ', ggufValue.strings(listed)]],
        tensors: [{ name: 'x', dtype: 'f32', shape: [40], data: new Uint8Array(160) }],
      });
      const z = bytes.findIndex((_, i) => String.fromCharCode(...bytes.subarray(i, i + 18)) === 'bitexit.bx.tensorZ');
      bytes[z + 17] = 's'.charCodeAt(0);
      await expect(readGguf(new MemoryByteSource('m.gguf', bytes)), listed.join()).rejects.toThrow(ModelFormatError);
    }

    // Corrupt one byte of the q blob's body: the header still reads, readTensor fails typed.
    const g = await readGguf(new MemoryByteSource('m.gguf', good));
    const info = g.tensor('blk.0.attn_q.weight')!;
    const corrupt = good.slice();
    corrupt[info.offset + 16] |= 0x80; // an unknown flag bit
    const g2 = await readGguf(new MemoryByteSource('m.gguf', corrupt));
    await expect(g2.readTensor('blk.0.attn_q.weight')).rejects.toThrow(ModelFormatError);
    // Corrupt the magic: readGguf itself fails typed.
    const badMagic = good.slice();
    badMagic[info.offset] ^= 0xff;
    await expect(readGguf(new MemoryByteSource('m.gguf', badMagic))).rejects.toThrow(/not a bx blob/);
    // Header byteLength disagreeing with the tensor size.
    const badLen = good.slice();
    badLen[info.offset + 24] ^= 0x10; // byteLength
    await expect(readGguf(new MemoryByteSource('m.gguf', badLen))).rejects.toThrow(ModelFormatError);
  });
});
