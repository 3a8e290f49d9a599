import type { HostTensor, WeightDType } from '@bitexit/format';
import type { Program, ReadbackData, RunParams, OpKind } from './program.js';
import type { BufferDType, CompiledProgram, DeviceBuffer, DeviceWeight } from './resources.js';

/** Version of this contract. A backend built for another version is refused by the registry. */
export const BACKEND_SPECIFICATION_VERSION = 1 as const;

export interface BackendCapabilities {
  /** Registry name: 'cpu', 'webgpu', 'cuda'. */
  readonly name: string;
  /** Human-readable device description, e.g. "CPU (pure TypeScript, 2 threads)" or an adapter name. */
  readonly device: string;
  /** Precision of arithmetic: 32 for f32 accumulation everywhere, 16 if the backend computes in f16. */
  readonly floatPrecision: 16 | 32;
  /** Weight storage types the backend's kernels read directly. */
  readonly weightDTypes: readonly WeightDType[];
  /** Ops with a registered kernel. */
  readonly ops: readonly OpKind[];
  readonly limits: {
    /** Largest single buffer or weight in bytes (GPU binding limits; the backend splits larger weights itself if it can). */
    readonly maxBufferBytes: number;
  };
}

/**
 * One backend instance bound to one device. Created by a BackendProvider.
 * Every method that touches device memory is explicit: the engine never sees
 * device data except through `readBuffer` and a program run's outputs.
 */
export interface Backend {
  readonly specificationVersion: typeof BACKEND_SPECIFICATION_VERSION;
  readonly capabilities: BackendCapabilities;

  /** Copies a weight to the device in its storage format (no widening unless the backend must). */
  uploadWeight(tensor: HostTensor): Promise<DeviceWeight>;
  /** Allocates a zero-filled activation buffer [rows, cols]. */
  createBuffer(dtype: BufferDType, shape: readonly [number, number], label: string): DeviceBuffer;
  /** Writes host data at an element offset (queued before the next run on GPUs). */
  writeBuffer(buffer: DeviceBuffer, data: Float32Array | Int32Array, elementOffset?: number): void;
  /** Explicit readback of a whole buffer. */
  readBuffer(buffer: DeviceBuffer): Promise<ReadbackData>;

  /** Validates the program (shapes, supported kernels) and prepares it for replay. */
  compile(program: Program): CompiledProgram;
  /** Runs one step: uploads inputs, executes every op once, returns the program's outputs. */
  run(program: CompiledProgram, params: RunParams): Promise<ReadbackData[]>;

  release(resource: DeviceBuffer | DeviceWeight | CompiledProgram): void;
  /** Bytes currently held on the device by this instance. */
  memoryInUse(): number;
  dispose(): Promise<void>;
}

export type Availability =
  | {
      ok: true;
      detail: string;
      /**
       * Set when the backend works but `auto` should pass over it (e.g. a software GPU adapter that is
       * slower than the CPU backend): the reason `auto` reports. Selecting the backend by name still works.
       */
      notForAuto?: string;
    }
  | { ok: false; reason: string };

export interface BackendCreateOptions {
  /** Backend-specific knobs (thread count, adapter preference, ...). */
  [key: string]: unknown;
}

/** What a backend package registers: how to probe and create it. */
export interface BackendProvider {
  readonly specificationVersion: typeof BACKEND_SPECIFICATION_VERSION;
  readonly name: string;
  /** Higher wins for `auto`. CPU is 0, GPUs above. */
  readonly priority: number;
  readonly description: string;
  /** Cheap check that never throws: can this backend run here, and if not, why. */
  probe(): Promise<Availability>;
  create(options?: BackendCreateOptions): Promise<Backend>;
}
