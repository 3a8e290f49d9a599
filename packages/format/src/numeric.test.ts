import { describe, expect, it } from 'vitest';
import { ModelFormatError } from './errors.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './f16.js';
import { decodeToF32, encodeBf16, encodeF16, encodeF32, encodeQ8_0 } from './numeric.js';
import { rng } from './internal/testing.js';

describe('f16', () => {
  it('decodes known bit patterns exactly', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x3555)).toBe(0.333251953125);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0400)).toBe(2 ** -14); // smallest normal
    expect(f16ToF32(0x0001)).toBe(2 ** -24); // smallest subnormal
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24); // largest subnormal
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
  });

  it('encodes known values', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(0.1)).toBe(0x2e66);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // halfway to 65536 -> even -> inf
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(-0)).toBe(0x8000);
    const nan = f32ToF16(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('rounds ties to even, including subnormals', () => {
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie between 0x3c00 and 0x3c01 -> even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3c01 and 0x3c02 -> even
    expect(f32ToF16(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16(2 ** -24)).toBe(0x0001);
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // half the smallest subnormal -> 0 (even)
    expect(f32ToF16(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 -> even
    expect(f32ToF16(2 ** -26)).toBe(0x0000);
    expect(f32ToF16(-(2 ** -30))).toBe(0x8000);
    expect(f32ToF16(1023.5 * 2 ** -24)).toBe(0x0400); // rounds up into the smallest normal
  });

  it('round-trips every finite f16 bit pattern', () => {
    const bad: number[] = [];
    let checked = 0;
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN
      checked++;
      if (f32ToF16(f16ToF32(h)) !== h) bad.push(h);
    }
    expect(checked).toBe(65536 - 2046);
    expect(bad).toEqual([]);
  });

  it('picks the nearest f16 (ties to even) for random f32 values', () => {
    const r = rng(7);
    const bits = new Uint32Array(1);
    const f = new Float32Array(bits.buffer);
    for (let i = 0; i < 20000; i++) {
      // Exponents around the f16 range, random mantissas.
      const exp = 100 + Math.floor(r() * 45);
      bits[0] = ((r() < 0.5 ? 1 : 0) << 31) | (exp << 23) | Math.floor(r() * 0x800000);
      const x = f[0];
      const h = f32ToF16(x);
      const y = f16ToF32(h);
      if (!Number.isFinite(y)) {
        expect(Math.abs(x)).toBeGreaterThanOrEqual(65520);
        continue;
      }
      const err = Math.abs(x - y);
      for (const nb of [h - 1, h + 1]) {
        if ((nb & 0x7fff) > 0x7bff || nb < 0) continue;
        const e2 = Math.abs(x - f16ToF32(nb));
        if ((nb & 0x8000) !== (h & 0x8000)) continue;
        expect(err).toBeLessThanOrEqual(e2);
        if (err === e2) expect(h & 1).toBe(0);
      }
    }
  });
});

describe('bf16', () => {
  it('decodes and encodes known values', () => {
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(-3)).toBe(0xc040);
    expect(f32ToBf16(3.140625)).toBe(0x4049);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even
    expect(f32ToBf16(1 + 2 ** -8 + 2 ** -16)).toBe(0x3f81);
    expect(f32ToBf16(3.4e38)).toBe(0x7f80); // rounds to inf
    const nan = f32ToBf16(NaN);
    expect(nan & 0x7f80).toBe(0x7f80);
    expect(nan & 0x7f).not.toBe(0);
  });
});

describe('decodeToF32', () => {
  it('decodes f32, f16, bf16 tensors', () => {
    const x = new Float32Array([1, -2, 0.5, 65504]);
    expect(Array.from(decodeToF32({ name: 't', dtype: 'f32', shape: [2, 2], data: encodeF32(x) }))).toEqual([1, -2, 0.5, 65504]);
    expect(Array.from(decodeToF32({ name: 't', dtype: 'f16', shape: [4], data: encodeF16(x) }))).toEqual([1, -2, 0.5, 65504]);
    expect(Array.from(decodeToF32({ name: 't', dtype: 'bf16', shape: [4], data: encodeBf16(x) }))).toEqual([1, -2, 0.5, 65536]);
  });

  it('handles unaligned byte offsets', () => {
    const buf = new Uint8Array(9);
    buf.set(encodeF16(new Float32Array([1, 2, 3, 4])), 1);
    expect(Array.from(decodeToF32({ name: 't', dtype: 'f16', shape: [4], data: buf.subarray(1) }))).toEqual([1, 2, 3, 4]);
    const b32 = new Uint8Array(17);
    b32.set(encodeF32(new Float32Array([1, 2, 3, 4])), 1);
    expect(Array.from(decodeToF32({ name: 't', dtype: 'f32', shape: [4], data: b32.subarray(1) }))).toEqual([1, 2, 3, 4]);
  });

  it('rejects a byte length that does not match the shape', () => {
    expect(() => decodeToF32({ name: 'w', dtype: 'f32', shape: [3], data: new Uint8Array(8) })).toThrow(ModelFormatError);
    expect(() => decodeToF32({ name: 'w', dtype: 'q8_0', shape: [16], data: new Uint8Array(17) })).toThrow(/multiple of 32/);
  });
});

describe('Q8_0', () => {
  it('matches ggml on a block of ones (d = f16(1/127) = 0x2008, q = 127)', () => {
    const q = encodeQ8_0(new Float32Array(32).fill(1), [32]);
    expect(q.length).toBe(34);
    expect(q[0] | (q[1] << 8)).toBe(0x2008);
    expect(Array.from(q.subarray(2))).toEqual(new Array(32).fill(127));
    const back = decodeToF32({ name: 'q', dtype: 'q8_0', shape: [32], data: q });
    expect(back[0]).toBe(127 * f16ToF32(0x2008));
  });

  it('encodes zeros as d = 0', () => {
    const q = encodeQ8_0(new Float32Array(64), [2, 32]);
    expect(Array.from(q)).toEqual(new Array(68).fill(0));
  });

  it('rounds half away from zero and keeps every error within d/2', () => {
    // amax 127 -> d = 1, id = 1: x/d is exact, so q = roundf(x).
    const x = new Float32Array(32);
    x[0] = 127;
    x[1] = 2.5;
    x[2] = -2.5;
    x[3] = 0.5;
    x[4] = -0.49;
    const q = encodeQ8_0(x, [32]);
    expect(q[0] | (q[1] << 8)).toBe(0x3c00);
    const s = new Int8Array(q.buffer, 2, 32);
    expect([s[0], s[1], s[2], s[3], s[4]]).toEqual([127, 3, -3, 1, 0]);

    const r = rng(3);
    const big = new Float32Array(32 * 64).map(() => (r() - 0.5) * 10 * r());
    const enc = encodeQ8_0(big, [64, 32]);
    const dec = decodeToF32({ name: 'q', dtype: 'q8_0', shape: [64, 32], data: enc });
    for (let b = 0; b < 64; b++) {
      const d = f16ToF32(enc[b * 34] | (enc[b * 34 + 1] << 8));
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(big[b * 32 + j]));
      expect(Math.abs(d - amax / 127)).toBeLessThanOrEqual((amax / 127) * 2 ** -10);
      for (let j = 0; j < 32; j++) {
        expect(Math.abs(dec[b * 32 + j] - big[b * 32 + j])).toBeLessThanOrEqual(d * 0.5 + amax * 2e-3);
      }
    }
  });

  it('rejects rows that are not multiples of 32', () => {
    expect(() => encodeQ8_0(new Float32Array(48), [48])).toThrow(ModelFormatError);
    expect(() => encodeQ8_0(new Float32Array(64), [2, 16, 2])).toThrow(/multiples of 32/);
    expect(() => encodeQ8_0(new Float32Array(10), [32])).toThrow(/does not match/);
  });
});
