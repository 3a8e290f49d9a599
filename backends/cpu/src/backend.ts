/**
 * The CPU backend: handle tables over host typed arrays, and programs
 * compiled into a flat list of kernel closures (see kernels/registry.ts).
 */
import {
  BACKEND_SPECIFICATION_VERSION,
  InvalidHandleError,
  InvalidProgramError,
  OutOfMemoryError,
  UnsupportedOpError,
  validateProgram,
  HandleChecks,
  type Backend,
  type BackendCapabilities,
  type BufferDType,
  type CompiledProgram,
  type DeviceBuffer,
  type DeviceWeight,
  type Program,
  type ReadbackData,
  type RunParams,
} from '@bitexit/backend';
import { parseBx, weightByteLength, type HostTensor } from '@bitexit/format';
import { guardPredicate } from './kernels/exit_check.js';
import { registerBuiltinKernels } from './kernels/index.js';
import { cpuKernelRegistry, type KernelContext, type KernelRegistry, type KernelStep, type StepState } from './kernels/registry.js';
import type { CpuWeightData } from './storage.js';

export const CPU_BACKEND_NAME = 'cpu';

/** Largest single buffer or weight (bytes): typed arrays past 2 GiB are not portable across JS engines. */
export const CPU_MAX_BUFFER_BYTES = 2 ** 31 - 1;

export interface CpuBackendOptions {
  /** Kernel registry to compile with (defaults to the shared CPU registry with every built-in kernel). */
  registry?: KernelRegistry;
}

interface BufferEntry {
  readonly handle: DeviceBuffer;
  readonly data: Float32Array | Int32Array;
}

interface WeightEntry {
  readonly handle: DeviceWeight;
  readonly data: CpuWeightData;
}

interface ProgramEntry {
  readonly handle: CompiledProgram;
  readonly steps: KernelStep[];
  readonly state: StepState;
  /** Smallest KV cache (rows) any op writes or reads; runs need pos + n <= this. */
  readonly cacheRows: number;
  readonly outputs: { data: Float32Array | Int32Array; cols: number; rows: 'active' | number }[];
  /** Buffer/weight ids the program captured, re-checked after any release. */
  readonly uses: { kind: 'buffer' | 'weight'; id: number; label: string }[];
  readonly scratchBytes: number;
  checkedEpoch: number;
}

/** Handle ids are unique across every CPU backend instance, so a foreign handle never aliases a local one. */
let nextId = 1;

function allocate<T>(what: string, bytes: number, make: () => T): T {
  if (bytes > CPU_MAX_BUFFER_BYTES) throw new OutOfMemoryError(CPU_BACKEND_NAME, `${what} (over the ${CPU_MAX_BUFFER_BYTES}-byte limit)`, bytes);
  try {
    return make();
  } catch (e) {
    if (e instanceof RangeError) throw new OutOfMemoryError(CPU_BACKEND_NAME, what, bytes);
    throw e;
  }
}

function positiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}

export class CpuBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly capabilities: BackendCapabilities;

  private readonly registry: KernelRegistry;
  private readonly buffers = new Map<number, BufferEntry>();
  private readonly weights = new Map<number, WeightEntry>();
  private readonly programs = new Map<number, ProgramEntry>();
  /** Every handle this instance issued, to tell "released" from "foreign" in error messages. */
  private readonly handles = new HandleChecks('cpu');
  private bytesInUse = 0;
  private disposed = false;

  constructor(options: CpuBackendOptions = {}) {
    if (options.registry) {
      this.registry = options.registry;
    } else {
      registerBuiltinKernels(cpuKernelRegistry);
      this.registry = cpuKernelRegistry;
    }
    this.capabilities = {
      name: CPU_BACKEND_NAME,
      device: 'CPU (pure TypeScript, single thread)',
      floatPrecision: 32,
      weightDTypes: Object.freeze(this.registry.weightDTypes()),
      ops: Object.freeze(this.registry.kinds()),
      limits: { maxBufferBytes: CPU_MAX_BUFFER_BYTES },
    };
  }

  // ---------------------------------------------------------------- resources

  async uploadWeight(tensor: HostTensor): Promise<DeviceWeight> {
    this.live();
    const { name, dtype, shape, data } = tensor;
    if (!this.capabilities.weightDTypes.includes(dtype)) {
      throw new UnsupportedOpError(`weight[${String(dtype)}]`, CPU_BACKEND_NAME, `tensor '${name}' is stored as ${String(dtype)}`);
    }
    if (!Array.isArray(shape) || shape.length < 1 || !shape.every(positiveInt)) {
      throw new InvalidProgramError(`weight '${name}': shape [${String(shape)}] must be positive integers`);
    }
    const cols = shape[shape.length - 1];
    const rows = shape.length === 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    if (dtype === 'q8_0' && cols % 32 !== 0) {
      throw new InvalidProgramError(`weight '${name}': q8_0 rows must be multiples of 32, got ${cols}`);
    }
    if (dtype === 'bx' && !(data instanceof Uint8Array)) throw new InvalidProgramError(`weight '${name}': bx data must be a Uint8Array`);
    // A bx blob's size comes from its own (validated) header.
    const bytes = dtype === 'bx' ? data.byteLength : weightByteLength(dtype, shape);
    if (!(data instanceof Uint8Array) || data.byteLength !== bytes) {
      throw new InvalidProgramError(`weight '${name}': ${data?.byteLength ?? 0} bytes of data, ${dtype} [${shape.join(', ')}] needs ${bytes}`);
    }
    const what = `weight '${name}'`;
    let stored: CpuWeightData;
    // Always copy: the backend owns its memory, and the caller may reuse its buffer.
    switch (dtype) {
      case 'f32': {
        const f32 = allocate(what, bytes, () => new Float32Array(bytes / 4));
        new Uint8Array(f32.buffer).set(data);
        stored = { dtype, rows, cols, f32 };
        break;
      }
      case 'f16':
      case 'bf16': {
        const u16 = allocate(what, bytes, () => new Uint16Array(bytes / 2));
        new Uint8Array(u16.buffer).set(data);
        stored = { dtype, rows, cols, u16 };
        break;
      }
      case 'q8_0': {
        const raw = allocate(what, bytes, () => new Uint8Array(bytes));
        raw.set(data);
        stored = { dtype, rows, cols, bytes: raw, i8: new Int8Array(raw.buffer) };
        break;
      }
      case 'bx': {
        const raw = allocate(what, bytes, () => new Uint8Array(bytes));
        raw.set(data);
        const view = parseBx(raw, what); // ModelFormatError for a corrupt blob
        if (shape.length !== 2 || view.layout.rows !== shape[0] || view.layout.cols !== shape[1]) {
          throw new InvalidProgramError(`weight '${name}': shape [${shape.join(', ')}] but its bx blob is [${view.layout.rows}, ${view.layout.cols}]`);
        }
        stored = { dtype, rows, cols, view };
        break;
      }
    }
    const handle: DeviceWeight = Object.freeze({
      kind: 'weight' as const,
      id: nextId++,
      name,
      dtype,
      shape: Object.freeze([...shape]),
      byteLength: bytes,
    });
    this.weights.set(handle.id, { handle, data: stored });
    this.handles.issue(handle);
    this.bytesInUse += bytes;
    return handle;
  }

  createBuffer(dtype: BufferDType, shape: readonly [number, number], label: string): DeviceBuffer {
    this.live();
    if (dtype !== 'f32' && dtype !== 'i32') throw new InvalidProgramError(`buffer '${label}': dtype ${String(dtype)} must be f32 or i32`);
    if (!Array.isArray(shape) || shape.length !== 2 || !positiveInt(shape[0]) || !positiveInt(shape[1])) {
      throw new InvalidProgramError(`buffer '${label}': shape [${String(shape)}] must be two positive integers`);
    }
    const count = shape[0] * shape[1];
    const bytes = count * 4;
    const data = allocate(`buffer '${label}'`, bytes, () => (dtype === 'f32' ? new Float32Array(count) : new Int32Array(count)));
    const handle: DeviceBuffer = Object.freeze({
      kind: 'buffer' as const,
      id: nextId++,
      dtype,
      shape: Object.freeze([shape[0], shape[1]]) as unknown as readonly [number, number],
      label,
    });
    this.buffers.set(handle.id, { handle, data });
    this.handles.issue(handle);
    this.bytesInUse += bytes;
    return handle;
  }

  writeBuffer(buffer: DeviceBuffer, data: Float32Array | Int32Array, elementOffset = 0): void {
    this.live();
    const e = this.buffer(buffer);
    this.write(e, data, elementOffset);
  }

  async readBuffer(buffer: DeviceBuffer): Promise<ReadbackData> {
    this.live();
    return this.buffer(buffer).data.slice();
  }

  release(resource: DeviceBuffer | DeviceWeight | CompiledProgram): void {
    this.live();
    switch (resource?.kind) {
      case 'buffer': {
        const e = this.buffer(resource);
        this.buffers.delete(e.handle.id);
        this.bytesInUse -= e.data.byteLength;
        break;
      }
      case 'weight': {
        const e = this.weight(resource);
        this.weights.delete(e.handle.id);
        this.bytesInUse -= e.handle.byteLength;
        break;
      }
      case 'program': {
        const e = this.program(resource);
        this.programs.delete(e.handle.id);
        this.bytesInUse -= e.scratchBytes;
        break;
      }
      default:
        throw new InvalidHandleError(`cpu backend: cannot release ${String((resource as { kind?: unknown })?.kind)}: not a buffer, weight or program`);
    }
    this.handles.noteRelease();
  }

  memoryInUse(): number {
    return this.bytesInUse;
  }

  async dispose(): Promise<void> {
    this.buffers.clear();
    this.weights.clear();
    this.programs.clear();
    this.bytesInUse = 0;
    this.disposed = true;
  }

  // ---------------------------------------------------------------- programs

  compile(program: Program): CompiledProgram {
    this.live();
    validateProgram(program, this.capabilities);
    const uses = new Map<number, { kind: 'buffer' | 'weight'; id: number; label: string }>();
    let scratchBytes = 0;
    const backend = this;
    const ctx: KernelContext = {
      backendName: CPU_BACKEND_NAME,
      maxRows: program.maxRows,
      label: program.label,
      f32(b) {
        const e = backend.buffer(b);
        if (!(e.data instanceof Float32Array)) throw new InvalidProgramError(`program '${program.label}': buffer '${b.label}' must be f32`);
        uses.set(e.handle.id, { kind: 'buffer', id: e.handle.id, label: e.handle.label });
        return e.data;
      },
      i32(b) {
        const e = backend.buffer(b);
        if (!(e.data instanceof Int32Array)) throw new InvalidProgramError(`program '${program.label}': buffer '${b.label}' must be i32`);
        uses.set(e.handle.id, { kind: 'buffer', id: e.handle.id, label: e.handle.label });
        return e.data;
      },
      weight(w) {
        const e = backend.weight(w);
        uses.set(e.handle.id, { kind: 'weight', id: e.handle.id, label: e.handle.name });
        return e.data;
      },
      scratch(length) {
        const bytes = length * 4;
        const a = allocate(`scratch for program '${program.label}'`, bytes, () => new Float32Array(length));
        scratchBytes += bytes;
        return a;
      },
      account(bytes) {
        scratchBytes += bytes;
      },
    };

    let cacheRows = Infinity;
    const steps: KernelStep[] = [];
    // Ops inside a guarded region (SpecEE) test the region's condition each time they would run.
    let guard: (() => boolean) | null = null;
    for (const op of program.ops) {
      if (op.kind === 'kv_store' || op.kind === 'attention') {
        cacheRows = Math.min(cacheRows, this.buffer(op.kCache).handle.shape[0], this.buffer(op.vCache).handle.shape[0]);
      }
      if (op.kind === 'exit_record') cacheRows = Math.min(cacheRows, this.buffer(op.exitLayers).handle.shape[0]);
      const kernel = this.registry.lookupFor(op);
      if (op.kind === 'guard_begin') {
        guard = guardPredicate(op, ctx);
        continue;
      }
      if (op.kind === 'guard_end') {
        guard = null;
        continue;
      }
      let step = kernel.fn(op as never, ctx);
      const fixedRows = 'rows' in op ? op.rows : undefined;
      if (fixedRows !== undefined) {
        // Ops with a fixed row count (e.g. the LM head after last_row) ignore the run's n.
        const inner = step;
        step = (s) => {
          const n = s.n;
          s.n = fixedRows;
          inner(s);
          s.n = n;
        };
      }
      if (guard) {
        const runs = guard;
        const inner = step;
        step = (s) => {
          if (runs()) inner(s);
        };
      }
      steps.push(step);
    }
    const outputs = program.outputs.map((o) => {
      const e = this.buffer(o.buffer);
      uses.set(e.handle.id, { kind: 'buffer', id: e.handle.id, label: e.handle.label });
      return { data: e.data, cols: e.handle.shape[1], rows: o.rows };
    });
    const handle: CompiledProgram = Object.freeze({ kind: 'program' as const, id: nextId++, label: program.label, maxRows: program.maxRows });
    this.programs.set(handle.id, {
      handle,
      steps,
      state: { pos: 0, n: 1, sampling: undefined },
      cacheRows,
      outputs,
      uses: [...uses.values()],
      scratchBytes,
      checkedEpoch: this.handles.epoch,
    });
    this.handles.issue(handle);
    this.bytesInUse += scratchBytes;
    return handle;
  }

  async run(program: CompiledProgram, params: RunParams): Promise<ReadbackData[]> {
    this.live();
    const p = this.program(program);
    this.handles.checkRun(p, params, (kind, id) => (kind === 'buffer' ? this.buffers.has(id) : this.weights.has(id)));
    const { pos, n } = params;
    if (params.inputs) {
      for (const input of params.inputs) this.write(this.buffer(input.buffer), input.data, 0);
    }
    const state = p.state;
    state.pos = pos;
    state.n = n;
    state.sampling = params.sampling;
    const steps = p.steps;
    for (let i = 0; i < steps.length; i++) steps[i](state);
    state.sampling = undefined;
    const results: ReadbackData[] = new Array(p.outputs.length);
    for (let i = 0; i < p.outputs.length; i++) {
      const o = p.outputs[i];
      const rows = o.rows === 'active' ? n : o.rows;
      results[i] = o.data.slice(0, rows * o.cols);
    }
    return results;
  }

  // ---------------------------------------------------------------- handles

  private live(): void {
    if (this.disposed) throw new InvalidHandleError('cpu backend: this instance was disposed');
  }

  private buffer(b: DeviceBuffer): BufferEntry {
    return this.handles.buffer(this.buffers, b);
  }

  private weight(w: DeviceWeight): WeightEntry {
    return this.handles.weight(this.weights, w);
  }

  private program(p: CompiledProgram): ProgramEntry {
    return this.handles.program(this.programs, p);
  }

  private write(e: BufferEntry, data: Float32Array | Int32Array, elementOffset: number): void {
    this.handles.checkWrite(e.handle, data, elementOffset);
    e.data.set(data, elementOffset);
  }
}
