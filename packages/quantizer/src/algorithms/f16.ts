import { f16ToF32, f32ToF16 } from '@bitexit/format';

/** x rounded to the nearest IEEE half (round-to-nearest-even), as the file stores outliers. */
export function f16Round(x: number): number {
  return f16ToF32(f32ToF16(x));
}
