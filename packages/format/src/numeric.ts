import { ModelFormatError } from './errors.js';
import { Q8_0_BLOCK, Q8_0_BLOCK_BYTES, weightByteLength, type HostTensor } from './tensor.js';
import { dequantizeBx, parseBx } from './bx/codec.js';
import { bf16ToF32, f16Lut, f32ToBf16, f32ToF16 } from './f16.js';

/*
 * Bulk conversions between the storage types bitexit loads and f32 (the
 * scalar 16-bit float conversions live in f16.ts).
 */

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u16View(data: Uint8Array): Uint16Array {
  if (LITTLE_ENDIAN && data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.byteLength >>> 1);
  const out = new Uint16Array(data.byteLength >>> 1);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = dv.getUint16(i * 2, true);
  return out;
}

/**
 * Decodes a host tensor (F32, F16, BF16, Q8_0 or bx, the latter through the
 * reference dequantization of SPEC.md) to a fresh Float32Array
 * (never shares memory with `tensor.data`). Throws ModelFormatError, naming
 * the tensor, when the byte length does not match dtype and shape.
 */
export function decodeToF32(tensor: HostTensor): Float32Array {
  const { data, dtype, shape, name } = tensor;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ModelFormatError(name, `invalid shape [${shape.join(', ')}]`);
  }
  if (dtype === 'bx') {
    const view = parseBx(data, name);
    const { rows, cols } = view.layout;
    if (shape.length !== 2 || shape[0] !== rows || shape[1] !== cols) {
      throw new ModelFormatError(name, `bx tensor of shape [${shape.join(', ')}] holds a [${rows}, ${cols}] blob`);
    }
    return dequantizeBx(view);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (dtype === 'q8_0' && n % Q8_0_BLOCK !== 0) {
    throw new ModelFormatError(name, `q8_0 tensor of ${n} elements is not a multiple of ${Q8_0_BLOCK}`);
  }
  const expected = weightByteLength(dtype, shape);
  if (data.byteLength !== expected) {
    throw new ModelFormatError(name, `${dtype} tensor of shape [${shape.join(', ')}] needs ${expected} bytes, got ${data.byteLength}`);
  }
  const out = new Float32Array(n);
  switch (dtype) {
    case 'f32': {
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(data);
      } else {
        const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
        for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      }
      return out;
    }
    case 'f16': {
      const lut = f16Lut();
      const h = u16View(data);
      for (let i = 0; i < n; i++) out[i] = lut[h[i]];
      return out;
    }
    case 'bf16': {
      const h = u16View(data);
      const u = new Uint32Array(out.buffer);
      if (LITTLE_ENDIAN) {
        for (let i = 0; i < n; i++) u[i] = h[i] << 16;
      } else {
        for (let i = 0; i < n; i++) out[i] = bf16ToF32(h[i]);
      }
      return out;
    }
    case 'q8_0': {
      const lut = f16Lut();
      const blocks = n / Q8_0_BLOCK;
      for (let b = 0; b < blocks; b++) {
        const at = b * Q8_0_BLOCK_BYTES;
        const d = lut[data[at] | (data[at + 1] << 8)];
        const o = b * Q8_0_BLOCK;
        for (let j = 0; j < Q8_0_BLOCK; j++) out[o + j] = d * ((data[at + 2 + j] << 24) >> 24);
      }
      return out;
    }
    default:
      throw new ModelFormatError(name, `cannot decode dtype ${String(dtype)}`);
  }
}

/**
 * Quantizes f32 values to Q8_0 bytes exactly as ggml's quantize_row_q8_0_ref:
 * per block of 32 along the innermost (last) dimension, d = amax/127 stored
 * as f16, q = round(x / d) (half away from zero), all in f32 arithmetic.
 * The last dimension of `shape` must be a multiple of 32.
 */
export function encodeQ8_0(f32: Float32Array, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const rowLen = shape.length ? shape[shape.length - 1] : 1;
  if (!Number.isSafeInteger(n) || n !== f32.length) {
    throw new ModelFormatError('encodeQ8_0', `shape [${shape.join(', ')}] does not match ${f32.length} values`);
  }
  if (rowLen % Q8_0_BLOCK !== 0) {
    throw new ModelFormatError('encodeQ8_0', `q8_0 needs rows that are multiples of ${Q8_0_BLOCK}, got ${rowLen}`);
  }
  const blocks = n / Q8_0_BLOCK;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const fr = Math.fround;
  for (let b = 0; b < blocks; b++) {
    const o = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const a = Math.abs(f32[o + j]);
      if (a > amax) amax = a;
    }
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    const at = b * Q8_0_BLOCK_BYTES;
    out[at] = h & 0xff;
    out[at + 1] = h >>> 8;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const x = fr(f32[o + j] * id);
      const q = x < 0 ? -Math.round(-x) : Math.round(x); // roundf: half away from zero
      out[at + 2 + j] = q & 0xff;
    }
  }
  return out;
}

/** Encodes f32 values as f16 bytes (little-endian, round to nearest even). */
export function encodeF16(f32: Float32Array): Uint8Array {
  const out = new Uint8Array(f32.length * 2);
  for (let i = 0; i < f32.length; i++) {
    const h = f32ToF16(f32[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** Encodes f32 values as bf16 bytes (little-endian, round to nearest even). */
export function encodeBf16(f32: Float32Array): Uint8Array {
  const out = new Uint8Array(f32.length * 2);
  for (let i = 0; i < f32.length; i++) {
    const h = f32ToBf16(f32[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

/** Encodes f32 values as little-endian f32 bytes. */
export function encodeF32(f32: Float32Array): Uint8Array {
  const out = new Uint8Array(f32.length * 4);
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength));
  } else {
    const dv = new DataView(out.buffer);
    for (let i = 0; i < f32.length; i++) dv.setFloat32(i * 4, f32[i], true);
  }
  return out;
}

/**
 * Quantizes f32 values to Q4_0 bytes exactly as ggml's quantize_row_q4_0_ref
 * (per block of 32: d = max / -8 where max is the value of largest magnitude,
 * q = min(15, trunc(x / d + 8.5)), low nibbles the first 16 values). bitexit
 * does not run Q4_0; this makes llama.cpp-style files for tests and fixtures.
 * The last dimension of `shape` must be a multiple of 32.
 */
export function encodeQ4_0(f32: Float32Array, shape: readonly number[]): Uint8Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const rowLen = shape.length ? shape[shape.length - 1] : 1;
  if (!Number.isSafeInteger(n) || n !== f32.length) {
    throw new ModelFormatError('encodeQ4_0', `shape [${shape.join(', ')}] does not match ${f32.length} values`);
  }
  if (rowLen % 32 !== 0) throw new ModelFormatError('encodeQ4_0', `q4_0 needs rows that are multiples of 32, got ${rowLen}`);
  const blocks = n / 32;
  const out = new Uint8Array(blocks * 18);
  const fr = Math.fround;
  for (let b = 0; b < blocks; b++) {
    const o = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = f32[o + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    const h = f32ToF16(d);
    const at = b * 18;
    out[at] = h & 0xff;
    out[at + 1] = h >>> 8;
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(fr(fr(f32[o + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(fr(f32[o + 16 + j] * id) + 8.5)));
      out[at + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}
