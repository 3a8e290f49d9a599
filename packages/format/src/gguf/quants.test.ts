import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { encodeQ4_0, encodeQ8_0 } from '../numeric.js';
import { GGML_DECODABLE_TYPE_NAMES, dequantizeGgml, ggmlToQ8_0 } from './dequantize.js';
import { GGML_TYPES, ggmlTypeByName } from './types.js';

/*
 * Bit-for-bit checks of the block decoders against llama.cpp's reference
 * dequantization: test-vectors/ggml holds, per type, f32 inputs (<type>.in.f32),
 * the blocks ggml's quantizer made of them followed by blocks with random
 * code bytes (<type>.q.bin), and what ggml's dequantize_row_* made of every
 * block (<type>.out.f32). README.md there says how they were made.
 */
const DIR = fileURLToPath(new URL('../../test-vectors/ggml/', import.meta.url));
const QUANT_ROWS = 4; // blocks made by the quantizer; the rest have random codes (gen.c)

function f32File(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

const vectorTypes = readdirSync(DIR)
  .filter((f) => f.endsWith('.q.bin'))
  .map((f) => f.slice(0, -'.q.bin'.length));

describe('ggml block decoders against llama.cpp (test-vectors/ggml)', () => {
  it('has vectors for every type bitexit decodes block-wise', () => {
    const withDecoder = GGML_TYPES.filter((t) => t.decode).map((t) => t.name);
    expect(vectorTypes.map((n) => n.toUpperCase()).sort()).toEqual(withDecoder.map((n) => n.toUpperCase()).sort());
    for (const name of ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) {
      expect(GGML_DECODABLE_TYPE_NAMES).toContain(name);
    }
  });

  it.each(vectorTypes)('%s decodes bit for bit as dequantize_row_*', (name) => {
    const info = ggmlTypeByName(name)!;
    const q = new Uint8Array(readFileSync(`${DIR}${name}.q.bin`));
    const want = f32File(`${DIR}${name}.out.f32`);
    const blocks = q.byteLength / info.typeSize;
    expect(blocks).toBe(QUANT_ROWS + 2);
    expect(want.length).toBe(blocks * info.blockSize);
    expect(new Set(want).size, 'the reference output is not degenerate').toBeGreaterThan(4); // ternary types have few levels
    const got = dequantizeGgml(info.id, q, want.length, 'vectors', name);
    const a = bits(got);
    const b = bits(want);
    let mismatches = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) mismatches++;
    expect(mismatches, `first mismatch at ${a.findIndex((x, i) => x !== b[i])}`).toBe(0);
  });

  it.each(vectorTypes)('%s re-encodes to Q8_0 exactly (single-scale types) or as quantize_row_q8_0_ref of its values', (name) => {
    const info = ggmlTypeByName(name)!;
    const q = new Uint8Array(readFileSync(`${DIR}${name}.q.bin`));
    const want = f32File(`${DIR}${name}.out.f32`);
    const shape = [want.length / info.blockSize, info.blockSize];
    const { data, exact } = ggmlToQ8_0(info.id, q, shape, 'vectors', name);
    expect(exact).toBe(info.singleScaleAt !== undefined);
    const back = dequantizeGgml(8, data, want.length, 'vectors', name);
    if (exact) expect(bits(back)).toEqual(bits(want));
    else expect(data).toEqual(encodeQ8_0(want, shape));
  });

  it('encodeQ4_0 and encodeQ8_0 produce the bytes of quantize_row_q4_0_ref / q8_0_ref', () => {
    for (const [name, encode] of [
      ['q4_0', encodeQ4_0],
      ['q8_0', encodeQ8_0],
    ] as const) {
      if (!existsSync(`${DIR}${name}.in.f32`)) throw new Error(`missing vectors for ${name}`);
      const input = f32File(`${DIR}${name}.in.f32`);
      const q = new Uint8Array(readFileSync(`${DIR}${name}.q.bin`));
      const made = encode(input, [QUANT_ROWS, 32]);
      expect(made).toEqual(q.subarray(0, made.byteLength));
    }
  });

  it('refuses wrong byte counts, partial blocks and types without a decoder with typed errors', () => {
    const q4 = ggmlTypeByName('Q4_0')!.id;
    expect(() => dequantizeGgml(q4, new Uint8Array(17), 32, 'f', 't')).toThrow(ModelFormatError);
    expect(() => dequantizeGgml(q4, new Uint8Array(18), 31, 'f', 't')).toThrow(/whole Q4_0 blocks/);
    expect(() => dequantizeGgml(ggmlTypeByName('IQ2_XXS')!.id, new Uint8Array(66), 256, 'f', 't')).toThrow(UnsupportedTensorTypeError);
    expect(() => dequantizeGgml(99, new Uint8Array(4), 1, 'f', 't')).toThrow(/TYPE_99/);
  });
});
