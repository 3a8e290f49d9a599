import { describe, expect, it } from 'vitest';
import { ropeInvFreq } from './rope.js';

describe('ropeInvFreq', () => {
  it('matches 1 / theta^(2i/d) without scaling', () => {
    const f = ropeInvFreq({ ropeDim: 8, ropeTheta: 10000, ropeScaling: null });
    expect(f.length).toBe(4);
    for (let i = 0; i < 4; i++) expect(f[i]).toBeCloseTo(1 / Math.pow(10000, (2 * i) / 8), 7);
  });

  it('divides by the factor for linear scaling', () => {
    const f = ropeInvFreq({ ropeDim: 4, ropeTheta: 100, ropeScaling: { type: 'linear', factor: 4 } });
    expect(f[0]).toBeCloseTo(0.25, 7);
    expect(f[1]).toBeCloseTo(0.1 / 4, 7);
  });

  it('applies Llama 3 scaling: high frequencies kept, low divided, middle blended', () => {
    const scaling = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 };
    const base = ropeInvFreq({ ropeDim: 128, ropeTheta: 500000, ropeScaling: null });
    const f = ropeInvFreq({ ropeDim: 128, ropeTheta: 500000, ropeScaling: scaling });
    const high = 8192 / 4;
    const low = 8192 / 1;
    let kept = 0;
    let divided = 0;
    let blended = 0;
    for (let i = 0; i < 64; i++) {
      const wl = (2 * Math.PI) / base[i]!;
      if (wl < high) {
        expect(f[i]).toBe(base[i]);
        kept++;
      } else if (wl > low) {
        expect(f[i]).toBeCloseTo(base[i]! / 8, 10);
        divided++;
      } else {
        expect(f[i]! < base[i]! && f[i]! > base[i]! / 8).toBe(true);
        blended++;
      }
    }
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(blended).toBeGreaterThan(0);
  });
});
