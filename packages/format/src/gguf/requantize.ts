import { encodeQ4_0, encodeQ8_0 } from '../numeric.js';
import { ggufValue } from './types.js';
import type { GgufFile } from './reader.js';
import { ggufWriteSpecFrom, type GgufWriteSpec } from './writer.js';

/** llama.cpp's general.file_type ("mostly ...") per block type written here. */
const FILE_TYPES = { Q4_0: 2, Q8_0: 7 } as const;
const TYPE_IDS = { Q4_0: 2, Q8_0: 8 } as const;

/**
 * A write spec that re-encodes a parsed GGUF's F32/F16/BF16 matrices as Q4_0
 * or Q8_0 with ggml's reference quantizers (bit for bit as llama.cpp's
 * quantize_row_*_ref); matrices whose rows are not whole blocks of 32, and
 * every vector, are copied as stored (as llama-quantize's fallback keeps
 * them in a wider type). For tests and fixtures: it makes the files people
 * download from a model bitexit's tests already have.
 */
export function ggufWithBlockType(gguf: GgufFile, type: 'Q4_0' | 'Q8_0'): GgufWriteSpec {
  const spec = ggufWriteSpecFrom(gguf);
  const encode = type === 'Q4_0' ? encodeQ4_0 : encodeQ8_0;
  spec.metadata = spec.metadata.map(([k, v]) => [k, k === 'general.file_type' ? ggufValue.uint32(FILE_TYPES[type]) : v]);
  spec.tensors = spec.tensors.map((t, i) => {
    const info = gguf.tensors[i]!;
    const dense = info.dtype === 'f32' || info.dtype === 'f16' || info.dtype === 'bf16';
    if (!dense || t.shape.length !== 2 || t.shape[1]! % 32 !== 0) return t;
    return { name: t.name, dtype: 'f32', ggmlType: TYPE_IDS[type], shape: t.shape, data: async () => encode(await gguf.readTensorF32(info), t.shape) };
  });
  return spec;
}
