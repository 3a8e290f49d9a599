import type { WeightDType } from '@bitexit/format';

export type BufferDType = 'f32' | 'i32';

/** A device-resident activation buffer, [rows, cols]. Opaque to the engine except through readbacks. */
export interface DeviceBuffer {
  readonly kind: 'buffer';
  readonly id: number;
  readonly dtype: BufferDType;
  readonly shape: readonly [rows: number, cols: number];
  readonly label: string;
}

/** A device-resident weight tensor in its storage format. */
export interface DeviceWeight {
  readonly kind: 'weight';
  readonly id: number;
  readonly name: string;
  readonly dtype: WeightDType;
  readonly shape: readonly number[];
  readonly byteLength: number;
}

/** A program validated and prepared by one backend instance. */
export interface CompiledProgram {
  readonly kind: 'program';
  readonly id: number;
  readonly label: string;
  readonly maxRows: number;
}
