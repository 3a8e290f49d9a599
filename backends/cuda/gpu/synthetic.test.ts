// The benchmarks' synthetic weights must be valid bx blobs at about 2.9 + overhead bits.
import { describe, expect, it } from 'vitest';
import { bitsPerWeight, syntheticBx, syntheticF16 } from './synthetic.js';

describe('synthetic benchmark weights', () => {
  it('builds valid bx blobs (parseBx accepts them) near 3.1 bits per weight', () => {
    const blob = syntheticBx(256, 4096);
    const bpw = bitsPerWeight(blob, 256, 4096);
    expect(bpw).toBeGreaterThan(3.0);
    expect(bpw).toBeLessThan(3.2);
    expect(() => syntheticBx(33, 11008)).not.toThrow();
  });

  it('builds finite f16 matrices', () => {
    const u16 = new Uint16Array(syntheticF16(8, 64).buffer);
    for (const h of u16) expect((h >> 10) & 0x1f).not.toBe(0x1f);
  });
});
