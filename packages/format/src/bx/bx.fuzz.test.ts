/**
 * parseBx against corrupt and hostile blobs: every failure must be a
 * ModelFormatError, and every blob that parses must dequantize to finite
 * values without reading outside the blob (an out-of-bounds typed-array read
 * gives undefined, hence NaN, which the finiteness check catches).
 */
import { describe, expect, it } from 'vitest';
import { ModelFormatError } from '../errors.js';
import { decodeBx, dequantizeBx, encodeBx, parseBx } from './codec.js';
import { BX_HEADER, BX_HEADER_FIELD_BYTES } from './layout.js';
import { bxRng, randomBxMatrix } from './testing.js';

function parsesSafely(bytes: Uint8Array): boolean {
  let view;
  try {
    view = parseBx(bytes, 'fuzz');
  } catch (e) {
    if (!(e instanceof ModelFormatError)) throw e;
    return false;
  }
  const w = dequantizeBx(view);
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) throw new Error(`non-finite value ${w[i]} at ${i} of a blob that parsed`);
  decodeBx(view);
  return true;
}

const blobs = {
  plain: encodeBx(randomBxMatrix({ rows: 5, cols: 100, outliers: 7, seed: 21 })),
  secondOrder: encodeBx(randomBxMatrix({ rows: 6, cols: 130, groupSize: 32, secondOrder: true, scaleBits: 5, superGroup: { rows: 4, groups: 2 }, outliers: 4, seed: 22 })),
};

describe('parseBx fuzz', () => {
  for (const [name, blob] of Object.entries(blobs)) {
    it(`${name}: every truncation fails with ModelFormatError`, () => {
      expect(parsesSafely(blob)).toBe(true);
      for (let n = 0; n < blob.byteLength; n++) expect(parsesSafely(blob.subarray(0, n))).toBe(false);
      // One byte too many as well.
      const longer = new Uint8Array(blob.byteLength + 16);
      longer.set(blob);
      expect(parsesSafely(longer)).toBe(false);
    });

    it(`${name}: random byte and bit flips parse cleanly or fail typed`, () => {
      const rnd = bxRng(name.length * 7919);
      let rejected = 0;
      for (let iter = 0; iter < 1500; iter++) {
        const b = blob.slice();
        const flips = 1 + Math.floor(rnd() * 4);
        for (let f = 0; f < flips; f++) {
          const at = rnd() < 0.5 ? Math.floor(rnd() * 128) : Math.floor(rnd() * b.length);
          if (rnd() < 0.5) b[at] ^= 1 << Math.floor(rnd() * 8);
          else b[at] = Math.floor(rnd() * 256);
        }
        if (!parsesSafely(b)) rejected++;
      }
      expect(rejected).toBeGreaterThan(100);
    });
  }

  it('hostile header fields (huge counts, offsets, sizes) fail typed', () => {
    const blob = blobs.plain;
    const fields = Object.entries(BX_HEADER) as Array<[keyof typeof BX_HEADER, number]>;
    const values = [0, 1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 64, 127, 128, 255, 256, 65535, 65536, 0x7fffffff, 0x80000000, 0xfffffff0, 0xffffffff];
    let accepted = 0;
    for (const [field, at] of fields) {
      for (const v of values) {
        const b = blob.slice();
        const dv = new DataView(b.buffer);
        const size = BX_HEADER_FIELD_BYTES[field];
        if (size === 2) dv.setUint16(at, v & 0xffff, true);
        else if (size === 1) dv.setUint8(at, v & 0xff);
        else dv.setUint32(at, v >>> 0, true);
        if (parsesSafely(b)) accepted++;
      }
    }
    // Only values equal to the original survive.
    expect(accepted).toBeLessThan(fields.length * 2);
  });

  it('hostile outlier tables fail typed', () => {
    const blob = blobs.plain;
    const v = parseBx(blob);
    const C = v.layout.outlierSlots;
    expect(C).toBeGreaterThan(1);
    // Row 0's slots; find a row with a padding slot for the "entry after padding" case.
    const en = v.layout.outlierOffset;
    let padRow = -1;
    let fullRow = -1;
    for (let r = 0; r < v.layout.rows; r++) {
      const first = v.words[(en >>> 2) + r * C];
      const last = v.words[(en >>> 2) + r * C + C - 1];
      if (padRow < 0 && last === 0 && first !== 0) padRow = r;
      if (fullRow < 0 && last !== 0) fullRow = r;
    }
    expect(padRow).toBeGreaterThanOrEqual(0);
    expect(fullRow).toBeGreaterThanOrEqual(0);
    const cases: Array<(dv: DataView) => void> = [
      (dv) => dv.setUint16(en, 100, true), // column == cols
      (dv) => dv.setUint16(en, 0xffff, true),
      (dv) => dv.setUint16(en + 2, 0x7c00, true), // +inf value
      (dv) => dv.setUint16(en + 2, 0x7e00, true), // NaN value
      (dv) => dv.setUint16(en + 2, 0x8000, true), // -0 value
      (dv) => dv.setUint32(en + 4 * (padRow * C + C - 1), 0x3c000001, true), // entry after a padding slot (or out of order)
      (dv) => dv.setUint32(en + 4 * (fullRow * C), 0, true), // padding before an entry
    ];
    for (const mutate of cases) {
      const b = blob.slice();
      mutate(new DataView(b.buffer));
      expect(() => parseBx(b)).toThrow(ModelFormatError);
    }
  });

  it('non-finite f16 scales and second-order parameters fail typed', () => {
    const p = parseBx(blobs.plain);
    const b = blobs.plain.slice();
    new DataView(b.buffer).setUint16(p.layout.metaOffset, 0x7c00, true);
    expect(() => parseBx(b)).toThrow(/not finite/);
    const q = parseBx(blobs.secondOrder);
    const c = blobs.secondOrder.slice();
    new DataView(c.buffer).setUint16(q.layout.s2Offset + 2, 0xfc00, true);
    expect(() => parseBx(c)).toThrow(/not finite/);
  });

  it('rejects non-bytes and unknown versions with clear messages', () => {
    expect(() => parseBx(new Uint8Array(200))).toThrow(/not a bx blob/);
    const b = blobs.plain.slice();
    new DataView(b.buffer).setUint16(BX_HEADER.version, 2, true);
    expect(() => parseBx(b)).toThrow(/unsupported bx format version 2/);
    expect(() => parseBx([1, 2, 3] as unknown as Uint8Array)).toThrow(ModelFormatError);
  });
});
