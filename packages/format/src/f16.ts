/*
 * The one home of the 16-bit float conversions (f16 and bf16 <-> f32). All are
 * bit-exact with ggml's reference (scalar C) versions: f32 -> f16 and
 * f32 -> bf16 round to nearest, ties to even.
 */

const scratch = new DataView(new ArrayBuffer(4));

/** IEEE 754 binary16 bits -> number (exact). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** number -> IEEE 754 binary16 bits, rounding to nearest even (through f32, as ggml does). */
export function f32ToF16(x: number): number {
  scratch.setFloat32(0, x, true);
  const b = scratch.getUint32(0, true);
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return mant ? sign | 0x7e00 | (mant >>> 13) : sign | 0x7c00; // NaN keeps quiet bit, inf
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal -> signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && m & 1)) m++; // may carry into the smallest normal: still right
    return sign | m;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // carry may reach 0x7c00 (inf): correct
  return sign | h;
}

/** bfloat16 bits -> number (exact). */
export function bf16ToF32(h: number): number {
  scratch.setUint32(0, (h & 0xffff) << 16, true);
  return scratch.getFloat32(0, true);
}

/** number -> bfloat16 bits, rounding to nearest even (ggml_compute_fp32_to_bf16). */
export function f32ToBf16(x: number): number {
  scratch.setFloat32(0, x, true);
  const b = scratch.getUint32(0, true);
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 64) & 0xffff; // NaN: force quiet
  return Math.floor((b + 0x7fff + ((b >>> 16) & 1)) / 65536) & 0xffff;
}

let f16Table: Float32Array | null = null;

/** The 65536-entry f16 → f32 table (256 KiB, built once per process on first use). */
export function f16Lut(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = f16ToF32(i);
  }
  return f16Table;
}

/** x rounded to the nearest f16 (ties to even) and back: the value an f16 field holds. */
export function roundF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}
