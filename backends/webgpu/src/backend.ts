/**
 * The WebGPU backend: handle tables over GPUBuffers, programs compiled into a
 * flat list of dispatches (pipelines, bind groups and param uniforms built once),
 * replayed per run with one command encoder, one submit and one mapped readback.
 */
import {
  BACKEND_SPECIFICATION_VERSION,
  DeviceLostError,
  InvalidHandleError,
  InvalidProgramError,
  OutOfMemoryError,
  UnsupportedOpError,
  validateProgram,
  HandleChecks,
  validateSamplingParams,
  type Backend,
  type BackendCapabilities,
  type BufferDType,
  type CompiledProgram,
  type DeviceBuffer,
  type DeviceWeight,
  type Op,
  type OpKind,
  type Program,
  type ReadbackData,
  type RunParams,
} from '@bitexit/backend';
import { bxLayout, parseBx, weightByteLength, type BxLayout, type HostTensor, type WeightDType } from '@bitexit/format';
import * as K from './kernels.js';
import { BX_PARAM_NAMES, RUN_BYTES, assemble, packParams, paramBytes, type BindingKind, type Features, type ParamField, type RoleBinding } from './wgsl.js';

export const WEBGPU_BACKEND_NAME = 'webgpu';

// WebGPU usage flags as numbers, so Node needs no GPUBufferUsage global.
const MAP_READ = 0x1;
const COPY_SRC = 0x4;
const COPY_DST = 0x8;
const UNIFORM = 0x40;
const STORAGE = 0x80;
const COMPUTE = 0x4;
const MAP_MODE_READ = 0x1;

const OPS: readonly OpKind[] = [
  'embed',
  'rmsnorm',
  'matmul',
  'rope',
  'kv_store',
  'attention',
  'silu_mul',
  'add',
  'last_row',
  'argmax',
  'sample',
  'exit_check',
  'guard_begin',
  'guard_end',
  'exit_record',
];
const INDIRECT = 0x100;
const DTYPES: readonly WeightDType[] = ['f32', 'f16', 'bf16', 'q8_0', 'bx'];

export interface WebGpuDeviceInfo {
  device: GPUDevice;
  /** Human-readable adapter description. */
  description: string;
  features: Features;
  /** Largest storage binding used per weight chunk (the device limit unless lowered for tests). */
  maxBindingBytes: number;
  maxBufferBytes: number;
}

interface BufferEntry {
  readonly handle: DeviceBuffer;
  readonly gpu: GPUBuffer;
  readonly bytes: number;
}

interface WeightChunk {
  readonly gpu: GPUBuffer;
  readonly rowStart: number;
  readonly rows: number;
  /** bx: the layout of this chunk's blob as kernel params (offsets differ per chunk). */
  readonly bxParams?: ParamField[];
}

interface WeightEntry {
  readonly handle: DeviceWeight;
  readonly rows: number;
  readonly cols: number;
  readonly chunks: WeightChunk[];
  readonly bx?: { gtab: GPUBuffer; G: number };
  readonly bytes: number;
}

interface Dispatch {
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly grid: (n: number, pos: number) => [number, number, number] | null;
  /** Indirect dispatch: its workgroup counts live in slot `slot` of the program's args buffer, zeroed on the device by a gate. */
  readonly slot?: number;
}

interface RopeTable {
  readonly invFreq: Float32Array;
  readonly gpu: GPUBuffer;
  readonly host: Float32Array;
}

interface ProgramEntry {
  readonly handle: CompiledProgram;
  readonly dispatches: Dispatch[];
  readonly runUniform: GPUBuffer;
  readonly ropeTables: RopeTable[];
  readonly owned: GPUBuffer[];
  readonly cacheRows: number;
  readonly outputs: { gpu: GPUBuffer; cols: number; rows: 'active' | number; dtype: BufferDType }[];
  readonly uses: { kind: 'buffer' | 'weight'; id: number; label: string }[];
  readonly sample: { historyCapacity: number } | null;
  /** Embed ops' id buffers with their vocabulary: ids written through run inputs are range-checked. */
  readonly embedIds: Map<number, number>;
  readonly ring: GPUBuffer[];
  /** SpecEE: host-written grids of the indirect dispatches, the gated copy the GPU dispatches from, and per-run flags. */
  readonly indirect: { base: GPUBuffer; live: GPUBuffer; slots: number; flags: GPUBuffer; flagCount: number } | null;
  readonly stagingBytes: number;
  readonly scratchBytes: number;
  validation: Promise<GPUError | null> | null;
  checkedEpoch: number;
}

/** Handle ids are unique across instances, so a foreign handle never aliases a local one. */
let nextId = 1;

function positiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export class WebGpuBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly capabilities: BackendCapabilities;
  readonly features: Features;

  private readonly device: GPUDevice;
  private readonly maxBinding: number;
  private readonly buffers = new Map<number, BufferEntry>();
  private readonly weights = new Map<number, WeightEntry>();
  private readonly programs = new Map<number, ProgramEntry>();
  private readonly handles = new HandleChecks('webgpu');
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private bytesInUse = 0;
  private disposed = false;
  private lostReason: string | null = null;
  /** An asynchronous device error (e.g. out of memory on a buffer created synchronously), thrown by the next call. */
  private pending: Error | null = null;

  constructor(info: WebGpuDeviceInfo) {
    this.device = info.device;
    this.features = info.features;
    this.maxBinding = info.maxBindingBytes;
    const path = `${info.features.f16 ? 'shader-f16' : 'f32 (packed f16)'}, ${info.features.subgroups ? 'subgroup' : 'workgroup-memory'} reductions`;
    this.capabilities = {
      name: WEBGPU_BACKEND_NAME,
      device: `${info.description} [${path}]`,
      floatPrecision: 32,
      weightDTypes: Object.freeze([...DTYPES]),
      ops: Object.freeze([...OPS]),
      limits: { maxBufferBytes: info.maxBufferBytes },
    };
    void this.device.lost.then((l) => {
      if (!this.disposed) this.lostReason = `${l.reason}: ${l.message || 'no message'}`;
    });
    this.device.onuncapturederror = (ev: GPUUncapturedErrorEvent): void => {
      // Errors outside our error scopes (e.g. from a caller using gpuDevice): thrown by the next backend call.
      const e = ev.error;
      if (this.pending === null) {
        this.pending =
          e instanceof GPUOutOfMemoryErrorCtor()
            ? new OutOfMemoryError(WEBGPU_BACKEND_NAME, 'a device allocation', 0)
            : new InvalidProgramError(`webgpu: device error: ${e.message}`);
      }
    };
  }

  /** The GPUDevice (benchmarks use it for a reference copy kernel; do not destroy it). */
  get gpuDevice(): GPUDevice {
    return this.device;
  }

  // ---------------------------------------------------------------- resources

  async uploadWeight(tensor: HostTensor): Promise<DeviceWeight> {
    this.live();
    const { name, dtype, shape, data } = tensor;
    if (!this.capabilities.weightDTypes.includes(dtype)) {
      throw new UnsupportedOpError(`weight[${String(dtype)}]`, WEBGPU_BACKEND_NAME, `tensor '${name}' is stored as ${String(dtype)}`);
    }
    if (!Array.isArray(shape) || shape.length < 1 || !shape.every(positiveInt)) {
      throw new InvalidProgramError(`weight '${name}': shape [${String(shape)}] must be positive integers`);
    }
    const cols = shape[shape.length - 1];
    const rows = shape.length === 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    if (dtype === 'q8_0' && cols % 32 !== 0) throw new InvalidProgramError(`weight '${name}': q8_0 rows must be multiples of 32, got ${cols}`);
    if (!(data instanceof Uint8Array)) throw new InvalidProgramError(`weight '${name}': data must be a Uint8Array`);
    const bytes = dtype === 'bx' ? data.byteLength : weightByteLength(dtype, shape);
    if (data.byteLength !== bytes) {
      throw new InvalidProgramError(`weight '${name}': ${data.byteLength} bytes of data, ${dtype} [${shape.join(', ')}] needs ${bytes}`);
    }
    const what = `weight '${name}'`;
    const chunks: WeightChunk[] = [];
    let bx: WeightEntry['bx'];
    let held = 0;
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    try {
      if (dtype === 'bx') {
        const view = parseBx(data, what); // ModelFormatError for a corrupt blob
        const L = view.layout;
        if (shape.length !== 2 || L.rows !== shape[0] || L.cols !== shape[1]) {
          throw new InvalidProgramError(`weight '${name}': shape [${shape.join(', ')}] but its bx blob is [${L.rows}, ${L.cols}]`);
        }
        const G = L.groupSize;
        const gtab = new Uint32Array(L.nGroups * 4);
        for (let g = 0; g < L.nGroups; g++) {
          const b = view.widths[g];
          gtab[4 * g] = b;
          gtab[4 * g + 1] = b === 4 ? view.slot4[g] * (G / 8) : view.slot2[g] * (G / 16);
          gtab[4 * g + 2] = b === 3 ? view.slot1[g] * (G / 32) : 0;
          gtab[4 * g + 3] = view.zeroBit[g];
        }
        // Over the binding limit: row chunks, each re-laid out as the planes of a bx matrix of its rows.
        for (const part of bxRowChunks(data, L, Array.from(view.widths), this.maxBinding, what)) {
          const size = align(part.blob.byteLength, 16);
          chunks.push({ gpu: this.gpuBuffer(what, size, STORAGE | COPY_DST, part.blob), rowStart: part.rowStart, rows: part.rows, bxParams: bxParams(part.layout) });
          held += size;
        }
        const gt = this.gpuBuffer(`${what} group table`, gtab.byteLength, STORAGE | COPY_DST, new Uint8Array(gtab.buffer));
        bx = { gtab: gt, G };
        held += gtab.byteLength;
      } else {
        // Row chunks of at most maxBinding bytes; an even row count keeps f16/q8_0 chunk starts 4-byte aligned.
        const rowBytes = bytes / rows;
        let perChunk = rows;
        if (bytes > this.maxBinding) {
          perChunk = Math.floor(this.maxBinding / rowBytes) & ~1;
          if (perChunk < 2) {
            throw new UnsupportedOpError(`weight[${dtype}]`, WEBGPU_BACKEND_NAME, `weight '${name}': a row of ${rowBytes} bytes does not fit the ${this.maxBinding}-byte storage binding limit`);
          }
        }
        for (let r = 0; r < rows; r += perChunk) {
          const count = Math.min(perChunk, rows - r);
          const part = data.subarray(r * rowBytes, (r + count) * rowBytes);
          const size = align(part.byteLength, 16);
          chunks.push({ gpu: this.gpuBuffer(what, size, STORAGE | COPY_DST, part), rowStart: r, rows: count });
          held += size;
        }
      }
    } catch (e) {
      // Both pops are issued before any await, so concurrent calls cannot interleave scopes.
      await Promise.all([this.device.popErrorScope(), this.device.popErrorScope()]);
      for (const c of chunks) c.gpu.destroy();
      bx?.gtab.destroy();
      throw e;
    }
    const [validation, oom] = await Promise.all([this.device.popErrorScope(), this.device.popErrorScope()]);
    if (oom || validation) {
      for (const c of chunks) c.gpu.destroy();
      bx?.gtab.destroy();
      if (oom) throw new OutOfMemoryError(WEBGPU_BACKEND_NAME, what, bytes);
      throw new InvalidProgramError(`${what}: the device refused the upload: ${validation!.message}`);
    }
    const handle: DeviceWeight = Object.freeze({
      kind: 'weight' as const,
      id: nextId++,
      name,
      dtype,
      shape: Object.freeze([...shape]),
      byteLength: bytes,
    });
    this.weights.set(handle.id, { handle, rows, cols, chunks, bx, bytes: held });
    this.handles.issue(handle);
    this.bytesInUse += held;
    return handle;
  }

  createBuffer(dtype: BufferDType, shape: readonly [number, number], label: string): DeviceBuffer {
    this.live();
    if (dtype !== 'f32' && dtype !== 'i32') throw new InvalidProgramError(`buffer '${label}': dtype ${String(dtype)} must be f32 or i32`);
    if (!Array.isArray(shape) || shape.length !== 2 || !positiveInt(shape[0]) || !positiveInt(shape[1])) {
      throw new InvalidProgramError(`buffer '${label}': shape [${String(shape)}] must be two positive integers`);
    }
    const bytes = shape[0] * shape[1] * 4;
    if (bytes > this.maxBinding) {
      throw new OutOfMemoryError(WEBGPU_BACKEND_NAME, `buffer '${label}' (over the ${this.maxBinding}-byte storage binding limit)`, bytes);
    }
    const size = align(bytes, 16);
    const gpu = this.gpuBufferAsync(`buffer '${label}'`, size, STORAGE | COPY_SRC | COPY_DST);
    const handle: DeviceBuffer = Object.freeze({
      kind: 'buffer' as const,
      id: nextId++,
      dtype,
      shape: Object.freeze([shape[0], shape[1]]) as unknown as readonly [number, number],
      label,
    });
    this.buffers.set(handle.id, { handle, gpu, bytes: size });
    this.handles.issue(handle);
    this.bytesInUse += size;
    return handle;
  }

  writeBuffer(buffer: DeviceBuffer, data: Float32Array | Int32Array, elementOffset = 0): void {
    this.live();
    this.write(this.buffer(buffer), data, elementOffset);
  }

  async readBuffer(buffer: DeviceBuffer): Promise<ReadbackData> {
    this.live();
    const e = this.buffer(buffer);
    const count = e.handle.shape[0] * e.handle.shape[1];
    const staging = this.device.createBuffer({ size: e.bytes, usage: MAP_READ | COPY_DST, label: 'readback' });
    try {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(e.gpu, 0, staging, 0, e.bytes);
      this.device.queue.submit([enc.finish()]);
      await this.map(staging);
      const bytes = staging.getMappedRange(0, count * 4).slice(0);
      staging.unmap();
      return e.handle.dtype === 'f32' ? new Float32Array(bytes) : new Int32Array(bytes);
    } finally {
      staging.destroy();
    }
  }

  release(resource: DeviceBuffer | DeviceWeight | CompiledProgram): void {
    this.live();
    switch (resource?.kind) {
      case 'buffer': {
        const e = this.buffer(resource);
        this.buffers.delete(e.handle.id);
        e.gpu.destroy();
        this.bytesInUse -= e.bytes;
        break;
      }
      case 'weight': {
        const e = this.weight(resource);
        this.weights.delete(e.handle.id);
        for (const c of e.chunks) c.gpu.destroy();
        e.bx?.gtab.destroy();
        this.bytesInUse -= e.bytes;
        break;
      }
      case 'program': {
        const e = this.program(resource);
        this.programs.delete(e.handle.id);
        for (const b of e.owned) b.destroy();
        for (const b of e.ring) b.destroy();
        this.bytesInUse -= e.scratchBytes;
        break;
      }
      default:
        throw new InvalidHandleError(`webgpu backend: cannot release ${String((resource as { kind?: unknown })?.kind)}: not a buffer, weight or program`);
    }
    this.handles.noteRelease();
  }

  memoryInUse(): number {
    return this.bytesInUse;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const e of this.buffers.values()) e.gpu.destroy();
    for (const e of this.weights.values()) {
      for (const c of e.chunks) c.gpu.destroy();
      e.bx?.gtab.destroy();
    }
    for (const p of this.programs.values()) for (const b of [...p.owned, ...p.ring]) b.destroy();
    this.buffers.clear();
    this.weights.clear();
    this.programs.clear();
    this.bytesInUse = 0;
    this.device.destroy();
  }

  // ---------------------------------------------------------------- programs

  compile(program: Program): CompiledProgram {
    this.live();
    validateProgram(program, this.capabilities);
    const uses = new Map<number, { kind: 'buffer' | 'weight'; id: number; label: string }>();
    const buf = (b: DeviceBuffer): BufferEntry => {
      const e = this.buffer(b);
      uses.set(e.handle.id, { kind: 'buffer', id: e.handle.id, label: e.handle.label });
      return e;
    };
    const wgt = (w: DeviceWeight): WeightEntry => {
      const e = this.weight(w);
      uses.set(e.handle.id, { kind: 'weight', id: e.handle.id, label: e.handle.name });
      return e;
    };
    const feat = this.features;
    const owned: GPUBuffer[] = [];
    const dispatches: Dispatch[] = [];
    const ropeTables: RopeTable[] = [];
    const embedIds = new Map<number, number>();
    let scratchBytes = 0;
    let cacheRows = Infinity;
    let sample: ProgramEntry['sample'] = null;

    this.device.pushErrorScope('validation');
    const runUniform = this.device.createBuffer({ size: RUN_BYTES, usage: UNIFORM | COPY_DST, label: `${program.label}: run` });
    owned.push(runUniform);
    const scratch = (label: string, bytes: number): BufferEntry => {
      const size = align(Math.max(bytes, 16), 16);
      const gpu = this.device.createBuffer({ size, usage: STORAGE | COPY_DST, label: `${program.label}: ${label}` });
      owned.push(gpu);
      scratchBytes += size;
      return { handle: { kind: 'buffer', id: -1 - owned.length, dtype: 'f32', shape: [1, 1], label }, gpu, bytes: size };
    };
    /** Adds one dispatch of kernel `src` with the given role buffers and weight entry. */
    // SpecEE: indirect-args buffers sized for every dispatch that could be gated (a generous bound).
    const exitChecks = program.ops.filter((o) => o.kind === 'exit_check').length;
    const usesGuards = program.ops.some((o) => o.kind === 'guard_begin' || o.kind === 'exit_check');
    let indirect: ProgramEntry['indirect'] = null;
    if (usesGuards) {
      let bound = 0;
      for (const o of program.ops) {
        const w = o.kind === 'matmul' ? o.weight : o.kind === 'embed' ? o.table : o.kind === 'exit_check' ? o.lmHead : null;
        bound += 2 * (w ? this.weight(w).chunks.length : 1) + 4;
      }
      const mk = (label: string, bytes: number, usage: number) => {
        const b = this.device.createBuffer({ size: align(Math.max(bytes, 16), 16), usage, label: `${program.label}: ${label}` });
        owned.push(b);
        scratchBytes += b.size;
        return b;
      };
      indirect = {
        base: mk('indirect base', bound * 12, STORAGE | COPY_DST),
        live: mk('indirect live', bound * 12, STORAGE | INDIRECT | COPY_DST),
        slots: 0,
        flags: mk('exit flags', Math.max(2 * exitChecks, 1) * 4, STORAGE | COPY_DST),
        flagCount: 0,
      };
    }
    const entryOf = (gpu: GPUBuffer, label: string, id: number): BufferEntry => ({ handle: { kind: 'buffer', id, dtype: 'f32', shape: [1, 1], label }, gpu, bytes: 0 });
    const ind = indirect;
    const ib = ind ? { base: entryOf(ind.base, 'base', -2_000_001), live: entryOf(ind.live, 'live', -2_000_002), flags: entryOf(ind.flags, 'flags', -2_000_003) } : null;
    // Guarded regions: each segment (from guard_begin or an exit check inside the region, to the next) gets one gate.
    let region: { exit: BufferEntry; mode: number; layer: number } | null = null;
    let segStart = 0;
    let segAt = 0;
    const beginSegment = () => {
      segStart = ind ? ind.slots : 0;
      segAt = dispatches.length;
    };
    const endSegment = () => {
      if (!region || !ind || !ib || ind.slots === segStart) return;
      const [rs, m] = roles([['exit', region.exit, 'i32', false], ['flags', ib.flags, 'u32', false], ['base', ib.base, 'u32', false], ['live', ib.live, 'u32', true]]);
      const at = dispatches.length;
      add(K.gate(region.mode, region.layer, 0, segStart, ind.slots - segStart, rs), m, [], 'direct');
      dispatches.splice(segAt, 0, dispatches.splice(at, 1)[0]);
    };
    const add = (src: K.KernelSource, roleBufs: Map<string, BufferEntry>, weightRes: GPUBuffer[], slot: number | 'direct' | 'auto' = 'auto') => {
      const asm = assemble({ feat, params: src.params, roles: src.roles, weights: src.weights, body: src.body, reduceWG: src.reduceWG });
      const pipeline = this.pipeline(asm.code, asm.layout);
      const params = this.device.createBuffer({ size: paramBytes(src.params), usage: UNIFORM | COPY_DST, label: `${program.label}: ${src.name} params` });
      owned.push(params);
      this.device.queue.writeBuffer(params, 0, packParams(src.params));
      const byKey = new Map<number, GPUBuffer>();
      for (const r of src.roles) byKey.set(r.key, roleBufs.get(r.role)!.gpu);
      const resources: GPUBuffer[] = [runUniform, params, ...asm.roleOrder.map((k) => byKey.get(k)!), ...weightRes];
      const bindGroup = this.device.createBindGroup({
        label: `${program.label}: ${src.name}`,
        layout: pipeline.getBindGroupLayout(0),
        entries: resources.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      let s: number | undefined = typeof slot === 'number' ? slot : undefined;
      if (slot === 'auto' && region && ind) s = ind.slots++;
      dispatches.push({ pipeline, bindGroup, grid: src.grid, slot: s });
    };
    const roles = (spec: [string, BufferEntry, 'f32' | 'i32' | 'u32', boolean][]): [RoleBinding[], Map<string, BufferEntry>] => {
      const m = new Map<string, BufferEntry>();
      const rs: RoleBinding[] = spec.map(([role, e, type, write]) => {
        m.set(role, e);
        return { role, type, write, key: e.handle.id };
      });
      return [rs, m];
    };
    /** Weight resources of one chunk: the chunk (twice for bx: as u32 and as vec4<u32>, plus its group table) and the bias. */
    const weightRes = (w: WeightEntry, chunk: WeightChunk, bias?: WeightEntry, vec4 = false): GPUBuffer[] => {
      const res = w.bx ? [chunk.gpu, chunk.gpu, w.bx.gtab] : vec4 ? [chunk.gpu, chunk.gpu] : [chunk.gpu];
      if (bias) res.push(bias.chunks[0].gpu);
      return res;
    };
    const biasEntry = (b: DeviceWeight | undefined): WeightEntry | undefined => {
      if (!b) return undefined;
      const e = wgt(b);
      if (e.chunks.length !== 1) throw new UnsupportedOpError('matmul', WEBGPU_BACKEND_NAME, `bias '${b.name}' exceeds one storage binding`);
      return e;
    };

    try {
      const cctx: CompileCtx = {
        buf,
        wgt,
        add,
        roles,
        weightRes,
        biasEntry,
        scratch,
        feat,
        ropeTables,
        embedIds,
        owned,
        indirect: ind && ib ? { ...ib, newSlot: () => ind.slots++, newFlag: () => ind.flagCount++ } : null,
        endSegment,
        beginSegment,
      };
      for (const op of program.ops) {
        if (op.kind === 'guard_begin') {
          region = { exit: buf(op.exit), mode: op.runIf === 'running' ? 0 : 1, layer: op.layer ?? 0 };
          beginSegment();
        } else if (op.kind === 'guard_end') {
          endSegment();
          region = null;
        } else {
          this.compileOp(op, program, cctx);
        }
      }
      for (const op of program.ops) {
        if (op.kind === 'kv_store' || op.kind === 'attention') {
          cacheRows = Math.min(cacheRows, op.kCache.shape[0], op.vCache.shape[0]);
        }
        if (op.kind === 'sample') sample = { historyCapacity: op.history.shape[0] * op.history.shape[1] };
      }
    } catch (e) {
      void this.device.popErrorScope();
      for (const b of owned) b.destroy();
      throw e;
    }
    const validation = this.device.popErrorScope();
    for (const t of ropeTables) scratchBytes += t.gpu.size;

    const outputs = program.outputs.map((o) => {
      const e = buf(o.buffer);
      if (o.rows !== 'active' && !(Number.isInteger(o.rows) && o.rows >= 1 && o.rows <= e.handle.shape[0])) {
        throw new InvalidProgramError(`program '${program.label}': output '${e.handle.label}' reads ${o.rows} rows of ${e.handle.shape[0]}`);
      }
      return { gpu: e.gpu, cols: e.handle.shape[1], rows: o.rows, dtype: e.handle.dtype };
    });
    const stagingBytes = align(
      Math.max(16, outputs.reduce((s, o) => s + (o.rows === 'active' ? program.maxRows : o.rows) * o.cols * 4, 0)),
      16,
    );
    const handle: CompiledProgram = Object.freeze({ kind: 'program' as const, id: nextId++, label: program.label, maxRows: program.maxRows });
    this.programs.set(handle.id, {
      handle,
      dispatches,
      runUniform,
      ropeTables,
      owned,
      cacheRows,
      outputs,
      uses: [...uses.values()],
      sample,
      embedIds,
      ring: [],
      indirect,
      stagingBytes,
      scratchBytes,
      validation,
      checkedEpoch: this.handles.epoch,
    });
    this.handles.issue(handle);
    this.bytesInUse += scratchBytes;
    return handle;
  }

  private compileOp(op: Op, program: Program, c: CompileCtx): void {
    const { buf, wgt, add, roles, weightRes, feat } = c;
    const label = program.label;
    switch (op.kind) {
      case 'embed': {
        const w = wgt(op.table);
        const [rs, m] = roles([['ids', buf(op.ids), 'i32', false], ['out', buf(op.out), 'f32', true]]);
        c.embedIds.set(op.ids.id, w.rows);
        for (const ch of w.chunks) add(K.embed(w.cols, w.rows, ch.rowStart, ch.rows, op.table.dtype, ch.bxParams ?? [], rs), m, weightRes(w, ch));
        return;
      }
      case 'rmsnorm': {
        const w = wgt(op.weight);
        const [rs, m] = roles([['x', buf(op.x), 'f32', false], ['out', buf(op.out), 'f32', true]]);
        add(K.rmsnorm(op.x.shape[1], op.eps, op.rows, op.weight.dtype, feat, rs), m, weightRes(w, w.chunks[0]));
        return;
      }
      case 'matmul': {
        const w = wgt(op.weight);
        const bias = c.biasEntry(op.bias);
        const [rs, m] = roles([['x', buf(op.x), 'f32', false], ['out', buf(op.out), 'f32', true]]);
        for (const ch of w.chunks) {
          const shape = {
            N: w.rows,
            K: w.cols,
            rowStart: ch.rowStart,
            rowCount: ch.rows,
            fixed: op.rows,
            dtype: op.weight.dtype,
            bias: bias ? bias.handle.dtype : null,
            bxParams: ch.bxParams ?? [],
          };
          const res = weightRes(w, ch, bias);
          // 4-wide loads for f32/f16 rows whose length is a multiple of 4.
          const v4 = (op.weight.dtype === 'f32' || op.weight.dtype === 'f16') && w.cols % 4 === 0;
          const resVec = weightRes(w, ch, bias, v4);
          const single = op.rows === 1 || program.maxRows === 1;
          const vec = w.bx ? K.matvecBx(shape, w.bx.G, feat, rs) : K.matvec(shape, feat, rs, v4);
          const tiled = K.matmulTiled(shape, rs);
          // One active row: the matrix–vector kernel; more: the tiled kernel (both compiled, chosen per run by n).
          if (single) {
            add(vec, m, resVec);
          } else if (op.rows !== undefined) {
            add(tiled, m, res);
          } else {
            add({ ...vec, grid: (n, pos) => (n === 1 ? vec.grid(n, pos) : null) }, m, resVec);
            add({ ...tiled, grid: (n, pos) => (n === 1 ? null : tiled.grid(n, pos)) }, m, res);
          }
        }
        return;
      }
      case 'rope': {
        const half = op.ropeDim / 2;
        let table = c.ropeTables.find((t) => t.invFreq.length === half && t.invFreq.every((v, i) => v === op.invFreq[i]));
        if (!table) {
          const host = new Float32Array(program.maxRows * half * 2);
          const gpu = this.device.createBuffer({ size: align(host.byteLength, 16), usage: STORAGE | COPY_DST, label: `${label}: rope table` });
          c.owned.push(gpu);
          table = { invFreq: Float32Array.from(op.invFreq), gpu, host };
          c.ropeTables.push(table);
        }
        const cs: BufferEntry = { handle: { kind: 'buffer', id: -1000 - c.ropeTables.indexOf(table), dtype: 'f32', shape: [1, 1], label: 'rope' }, gpu: table.gpu, bytes: 0 };
        const [rs, m] = roles([['x', buf(op.x), 'f32', true], ['cs', cs, 'f32', false]]);
        add(K.rope(op.heads, op.headDim, op.ropeDim, op.style === 'adjacent', rs), m, []);
        return;
      }
      case 'kv_store': {
        const [rs, m] = roles([
          ['k', buf(op.k), 'f32', false],
          ['v', buf(op.v), 'f32', false],
          ['kc', buf(op.kCache), 'f32', true],
          ['vc', buf(op.vCache), 'f32', true],
        ]);
        add(K.kvStore(op.k.shape[1], op.v.shape[1], rs), m, []);
        return;
      }
      case 'attention': {
        const ctx = Math.min(op.kCache.shape[0], op.vCache.shape[0]);
        const sc = c.scratch('attention scores', program.maxRows * op.heads * ctx * 4);
        const spec: [string, BufferEntry, 'f32' | 'i32' | 'u32', boolean][] = [
          ['q', buf(op.q), 'f32', false],
          ['kc', buf(op.kCache), 'f32', false],
          ['vc', buf(op.vCache), 'f32', false],
          ['out', buf(op.out), 'f32', true],
          ['sc', sc, 'f32', true],
        ];
        if (op.exitLayers) spec.push(['rec', buf(op.exitLayers), 'i32', false]);
        const [rs, m] = roles(spec);
        const maskLayer = op.exitLayers ? op.layer! : null;
        const rows = K.attention(op.heads, op.kvHeads, op.headDim, op.scale, ctx, maskLayer, feat, rs);
        // One active row: split over the sequence (partials, then a combine); more rows: one workgroup per (head, row).
        const part = c.scratch('attention partials', op.heads * Math.ceil(ctx / K.ATT_CHUNK) * (op.headDim + 2) * 4);
        const [rs1, m1] = roles([...spec.filter(([r]) => r !== 'out' && r !== 'sc'), ['part', part, 'f32', true]]);
        add(K.attentionSplit(op.heads, op.kvHeads, op.headDim, op.scale, ctx, maskLayer, feat, rs1), m1, []);
        const [rs2, m2] = roles([['part', part, 'f32', false], ['out', buf(op.out), 'f32', true]]);
        add(K.attentionCombine(op.heads, op.headDim, ctx, rs2), m2, []);
        if (program.maxRows > 1) add({ ...rows, grid: (n, pos) => (n === 1 ? null : rows.grid(n, pos)) }, m, []);
        return;
      }
      case 'silu_mul':
      case 'add': {
        const [a, b] = op.kind === 'add' ? [op.a, op.b] : [op.gate, op.up];
        const [rs, m] = roles([['a', buf(a), 'f32', false], ['b', buf(b), 'f32', false], ['out', buf(op.out), 'f32', true]]);
        add(K.elementwise(op.kind, a.shape[1], op.rows, rs), m, []);
        return;
      }
      case 'last_row': {
        const [rs, m] = roles([['x', buf(op.x), 'f32', false], ['out', buf(op.out), 'f32', true]]);
        add(K.lastRow(op.x.shape[1], rs), m, []);
        return;
      }
      case 'argmax': {
        const [rs, m] = roles([['x', buf(op.x), 'f32', false], ['out', buf(op.out), 'i32', true]]);
        add(K.argmax(op.x.shape[1], rs), m, []);
        return;
      }
      case 'sample': {
        const V = op.logits.shape[1];
        let vp = 1;
        while (vp < V) vp *= 2;
        const [rs, m] = roles([
          ['logits', buf(op.logits), 'f32', false],
          ['hist', buf(op.history), 'i32', false],
          ['out', buf(op.out), 'i32', true],
          ['sk', c.scratch('sample keys', vp * 4), 'f32', true],
          ['si', c.scratch('sample ids', vp * 4), 'u32', true],
          ['pr', c.scratch('sample probs', vp * 4), 'f32', true],
        ]);
        add(K.sample(V, op.history.shape[0] * op.history.shape[1], rs, feat), m, []);
        return;
      }
      case 'exit_check': {
        this.compileExitCheck(op, c);
        return;
      }
      case 'exit_record': {
        const spec: [string, BufferEntry, 'f32' | 'i32' | 'u32', boolean][] = [['rec', buf(op.exitLayers), 'i32', true]];
        if (op.exit) spec.push(['exit', buf(op.exit), 'i32', false]);
        const [rs, m] = roles(spec);
        add(K.exitRecord(!!op.exit, op.lastLayer, op.exitLayers.shape[0], rs), m, []);
        return;
      }
      default:
        throw new UnsupportedOpError((op as { kind: string }).kind, WEBGPU_BACKEND_NAME);
    }
  }

  /**
   * exit_check as five dispatches: norm (decides whether the check runs), draft
   * logits per LM-head chunk, predictor; then a gate copies the full-head and
   * decision dispatches' workgroup counts only when the predictor fired, so
   * otherwise the LM head is never read.
   */
  private compileExitCheck(op: Extract<Op, { kind: 'exit_check' }>, c: CompileCtx): void {
    const { buf, wgt, add, roles, weightRes, feat } = c;
    const ind = c.indirect!;
    const dim = op.x.shape[1];
    const k = op.drafts.shape[1];
    const head = wgt(op.lmHead);
    const vocab = head.rows;
    const single = (w: DeviceWeight) => {
      const e = wgt(w);
      if (e.chunks.length !== 1) throw new UnsupportedOpError('exit_check', WEBGPU_BACKEND_NAME, `weight '${w.name}' exceeds one storage binding`);
      return weightRes(e, e.chunks[0]);
    };
    const go = ind.newFlag();
    const fired = ind.newFlag();
    const h = c.scratch('exit h', dim * 4);
    const z = c.scratch('exit draft logits', k * 4);
    const hidden = op.upBias.shape[0];
    const featBuf = c.scratch('exit hidden', hidden * 4);
    const x = buf(op.x);
    const exit = buf(op.exit);
    const drafts = buf(op.drafts);
    {
      const [rs, m] = roles([['x', x, 'f32', false], ['exit', exit, 'i32', false], ['active', buf(op.active), 'i32', false], ['flags', ind.flags, 'u32', true], ['h', h, 'f32', true]]);
      add(K.exitNorm(dim, op.eps, op.layer, go, op.norm.dtype, feat, rs), m, single(op.norm));
    }
    for (const ch of head.chunks) {
      const [rs, m] = roles([['flags', ind.flags, 'u32', false], ['drafts', drafts, 'i32', false], ['h', h, 'f32', false], ['z', z, 'f32', true]]);
      add(K.exitDrafts(dim, vocab, k, ch.rowStart, ch.rows, go, op.lmHead.dtype, ch.bxParams ?? [], feat, rs), m, weightRes(head, ch));
    }
    {
      const [rs, m] = roles([['flags', ind.flags, 'u32', true], ['z', z, 'f32', false], ['probs', buf(op.probs), 'f32', true], ['feat', featBuf, 'f32', true]]);
      const dtypes = { up: op.up.dtype, upBias: op.upBias.dtype, down: op.down.dtype, downBias: op.downBias.dtype };
      add(K.exitPredict(k, hidden, op.threshold, go, fired, dtypes, feat, rs), m, [...single(op.up), ...single(op.upBias), ...single(op.down), ...single(op.downBias)]);
    }
    // Close the guard segment here: the dispatches below are gated by the predictor, not by the region.
    c.endSegment();
    const start = ind.newSlot();
    const slots = [start];
    for (let i = 1; i < head.chunks.length + 1; i++) slots.push(ind.newSlot());
    {
      const [rs, m] = roles([['exit', exit, 'i32', false], ['flags', ind.flags, 'u32', false], ['base', ind.base, 'u32', false], ['live', ind.live, 'u32', true]]);
      add(K.gate(2, 0, fired, start, slots.length, rs), m, [], 'direct');
    }
    const logits = buf(op.logits);
    head.chunks.forEach((ch, i) => {
      const shape = {
        N: vocab,
        K: dim,
        rowStart: ch.rowStart,
        rowCount: ch.rows,
        fixed: 1,
        dtype: op.lmHead.dtype,
        bias: null,
        bxParams: ch.bxParams ?? [],
      };
      const [rs, m] = roles([['x', h, 'f32', false], ['out', logits, 'f32', true]]);
      const v4 = (op.lmHead.dtype === 'f32' || op.lmHead.dtype === 'f16') && dim % 4 === 0;
      add(head.bx ? K.matvecBx(shape, head.bx.G, feat, rs) : K.matvec(shape, feat, rs, v4), m, weightRes(head, ch, undefined, v4), slots[i]);
    });
    {
      const [rs, m] = roles([['logits', logits, 'f32', false], ['drafts', drafts, 'i32', false], ['exit', exit, 'i32', true]]);
      add(K.exitDecide(vocab, k, op.layer, rs), m, [], slots[head.chunks.length]);
    }
    c.beginSegment();
  }

  async run(program: CompiledProgram, params: RunParams): Promise<ReadbackData[]> {
    this.live();
    const p = this.program(program);
    this.handles.checkRun(p, params, (kind, id) => (kind === 'buffer' ? this.buffers.has(id) : this.weights.has(id)));
    const { label } = p.handle;
    const { pos, n } = params;
    if (p.validation) {
      const err = await p.validation;
      p.validation = null;
      if (err) throw new InvalidProgramError(`program '${label}': the device rejected its kernels: ${err.message}`);
    }
    const sampling = params.sampling;
    if (p.sample) {
      if (!sampling) throw new InvalidProgramError(`program '${label}': the sample op needs RunParams.sampling`);
      validateSamplingParams(label, sampling, p.sample.historyCapacity);
    }
    if (params.inputs) {
      for (const input of params.inputs) {
        const e = this.buffer(input.buffer);
        const vocab = p.embedIds.get(e.handle.id);
        if (vocab !== undefined && input.data instanceof Int32Array) {
          for (let t = 0; t < Math.min(n, input.data.length); t++) {
            const id = input.data[t];
            if (!(id >= 0 && id < vocab)) throw new InvalidProgramError(`program '${label}': token id ${id} at row ${t} is outside the vocabulary 0..${vocab - 1}`);
          }
        }
      }
      for (const input of params.inputs) this.write(this.buffer(input.buffer), input.data, 0);
    }
    // Runtime scalars: one small uniform write per run.
    const run = new ArrayBuffer(RUN_BYTES);
    const dv = new DataView(run);
    dv.setUint32(0, pos, true);
    dv.setUint32(4, n, true);
    if (sampling) {
      dv.setUint32(8, sampling.historyLength, true);
      dv.setUint32(12, sampling.topK, true);
      dv.setFloat32(16, sampling.temperature, true);
      dv.setFloat32(20, sampling.topP, true);
      dv.setFloat32(24, sampling.minP, true);
      dv.setFloat32(28, sampling.repetitionPenalty, true);
      dv.setFloat32(32, sampling.uniform, true);
    }
    dv.setFloat32(36, -Infinity, true);
    const queue = this.device.queue;
    queue.writeBuffer(p.runUniform, 0, run);
    // cos/sin of f32(pos + t) * invFreq[i], rounded to f32 angles as the CPU reference does.
    for (const t of p.ropeTables) {
      const half = t.invFreq.length;
      for (let r = 0; r < n; r++) {
        for (let i = 0; i < half; i++) {
          const angle = Math.fround((pos + r) * t.invFreq[i]);
          t.host[(r * half + i) * 2] = Math.cos(angle);
          t.host[(r * half + i) * 2 + 1] = Math.sin(angle);
        }
      }
      queue.writeBuffer(t.gpu, 0, t.host.buffer, 0, n * half * 8);
    }

    if (p.indirect) {
      // The workgroup counts every gated dispatch would use this run; gates copy them (or zeros) on the device.
      const base = new Uint32Array(Math.max(p.indirect.slots, 1) * 3);
      for (const d of p.dispatches) {
        if (d.slot === undefined) continue;
        const g = d.grid(n, pos);
        if (g) base.set(g, d.slot * 3);
      }
      queue.writeBuffer(p.indirect.base, 0, base);
      queue.writeBuffer(p.indirect.flags, 0, new Uint32Array(Math.max(p.indirect.flagCount, 1)));
    }
    this.device.pushErrorScope('validation');
    const enc = this.device.createCommandEncoder({ label });
    const pass = enc.beginComputePass({ label });
    for (const d of p.dispatches) {
      if (d.slot !== undefined) {
        pass.setPipeline(d.pipeline);
        pass.setBindGroup(0, d.bindGroup);
        pass.dispatchWorkgroupsIndirect(p.indirect!.live, d.slot * 12);
        continue;
      }
      const g = d.grid(n, pos);
      if (!g) continue;
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      pass.dispatchWorkgroups(g[0], g[1], g[2]);
    }
    pass.end();
    // Every output into one staging buffer from the ring: one mapped readback per run.
    const staging = p.ring.pop() ?? this.device.createBuffer({ size: p.stagingBytes, usage: MAP_READ | COPY_DST, label: `${label}: readback` });
    const spans: { offset: number; count: number; dtype: BufferDType }[] = [];
    let offset = 0;
    for (const o of p.outputs) {
      const rows = o.rows === 'active' ? n : o.rows;
      const bytes = rows * o.cols * 4;
      enc.copyBufferToBuffer(o.gpu, 0, staging, offset, bytes);
      spans.push({ offset, count: rows * o.cols, dtype: o.dtype });
      offset += bytes;
    }
    queue.submit([enc.finish()]);
    const err = await this.device.popErrorScope();
    if (err) {
      p.ring.push(staging);
      throw new InvalidProgramError(`program '${label}': the device rejected the run: ${err.message}`);
    }
    try {
      if (offset === 0) {
        await queue.onSubmittedWorkDone();
        this.live();
        return [];
      }
      await this.map(staging);
      const bytes = staging.getMappedRange(0, offset);
      const out = spans.map((s) =>
        s.dtype === 'f32' ? new Float32Array(bytes.slice(s.offset, s.offset + s.count * 4)) : new Int32Array(bytes.slice(s.offset, s.offset + s.count * 4)),
      );
      staging.unmap();
      return out;
    } finally {
      if (staging.mapState === 'unmapped') p.ring.push(staging);
    }
  }

  // ---------------------------------------------------------------- helpers

  /** Compute pipeline for a WGSL source, with an explicit layout (so unused bindings never break bind groups). */
  private pipeline(code: string, layout: BindingKind[]): GPUComputePipeline {
    const key = `${layout.join(',')}\n${code}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const bgl = this.device.createBindGroupLayout({
        entries: layout.map((type, binding) => ({ binding, visibility: COMPUTE, buffer: { type } })),
      });
      p = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }),
        compute: { module: this.device.createShaderModule({ code }), entryPoint: 'main' },
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private async map(staging: GPUBuffer): Promise<void> {
    try {
      await staging.mapAsync(MAP_MODE_READ);
    } catch (e) {
      this.live();
      throw new DeviceLostError(WEBGPU_BACKEND_NAME, `readback failed: ${(e as Error).message}`);
    }
  }

  /** Creates a buffer and uploads `data` (padded to a 4-byte multiple); errors are caught by the caller's error scopes. */
  private gpuBuffer(label: string, size: number, usage: number, data: Uint8Array): GPUBuffer {
    const gpu = this.device.createBuffer({ size, usage, label });
    const n4 = data.byteLength & ~3;
    if (n4 > 0) this.device.queue.writeBuffer(gpu, 0, data.buffer, data.byteOffset, n4);
    if (n4 < data.byteLength) {
      const tail = new Uint8Array(4);
      tail.set(data.subarray(n4));
      this.device.queue.writeBuffer(gpu, n4, tail);
    }
    return gpu;
  }

  /** A buffer created synchronously; an allocation failure surfaces as OutOfMemoryError on the next call. */
  private gpuBufferAsync(what: string, size: number, usage: number): GPUBuffer {
    this.device.pushErrorScope('out-of-memory');
    const gpu = this.device.createBuffer({ size, usage, label: what });
    void this.device.popErrorScope().then((e) => {
      if (e) this.pending ??= new OutOfMemoryError(WEBGPU_BACKEND_NAME, what, size);
    });
    return gpu;
  }

  private live(): void {
    if (this.disposed) throw new InvalidHandleError('webgpu backend: this instance was disposed');
    if (this.lostReason !== null) throw new DeviceLostError(WEBGPU_BACKEND_NAME, `${this.lostReason}; create a new backend`);
    if (this.pending) {
      const e = this.pending;
      this.pending = null;
      throw e;
    }
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
    if (data.length === 0) return;
    this.device.queue.writeBuffer(e.gpu, elementOffset * 4, data.buffer, data.byteOffset, data.byteLength);
  }
}

interface CompileCtx {
  buf(b: DeviceBuffer): BufferEntry;
  wgt(w: DeviceWeight): WeightEntry;
  add(src: K.KernelSource, roleBufs: Map<string, BufferEntry>, weightRes: GPUBuffer[], slot?: number | 'direct' | 'auto'): void;
  indirect: { base: BufferEntry; live: BufferEntry; flags: BufferEntry; newSlot(): number; newFlag(): number } | null;
  endSegment(): void;
  beginSegment(): void;
  roles(spec: [string, BufferEntry, 'f32' | 'i32' | 'u32', boolean][]): [RoleBinding[], Map<string, BufferEntry>];
  weightRes(w: WeightEntry, chunk: WeightChunk, bias?: WeightEntry, vec4?: boolean): GPUBuffer[];
  biasEntry(b: DeviceWeight | undefined): WeightEntry | undefined;
  scratch(label: string, bytes: number): BufferEntry;
  feat: Features;
  ropeTables: RopeTable[];
  embedIds: Map<number, number>;
  owned: GPUBuffer[];
}

/** GPUOutOfMemoryError exists as a global in browsers; Node's Dawn exposes it through its globals only. */
function GPUOutOfMemoryErrorCtor(): new (...a: never[]) => unknown {
  const g = (globalThis as { GPUOutOfMemoryError?: new (...a: never[]) => unknown }).GPUOutOfMemoryError;
  return g ?? class Never {};
}


/** The bx layout of a blob (or chunk) as the kernels' `wt_*` params (word offsets). */
function bxParams(L: BxLayout): ParamField[] {
  const values: Record<(typeof BX_PARAM_NAMES)[number], number> = {
    rows: L.rows,
    cols: L.cols,
    G: L.groupSize,
    nG: L.nGroups,
    F: L.scaleFieldBits,
    M: L.metaBits,
    so: L.secondOrder ? 1 : 0,
    SR: Math.max(1, L.superRows),
    SG: Math.max(1, L.superGroups),
    tileCols: L.tileCols,
    p4: L.p4Offset / 4,
    p2: L.p2Offset / 4,
    p1: L.p1Offset / 4,
    W4: L.p4RowWords,
    W2: L.p2RowWords,
    W1: L.p1RowWords,
    meta: L.metaOffset / 4,
    s2: L.s2Offset / 4,
    ol: L.outlierOffset / 4,
    C: L.outlierSlots,
  };
  return BX_PARAM_NAMES.map((k) => [`wt_${k}`, 'u32', values[k]] as const);
}

/**
 * Splits a bx blob into row chunks that each fit `maxBytes`: every chunk is
 * laid out as the blob of a bx matrix of its rows (SPEC.md §3; header and
 * width map left out: kernels take offsets as params). Chunks start at
 * multiples of lcm(32, SR) rows, so each chunk's meta bits start on a word and
 * its second-order tiles are whole: every section is a plain word copy.
 */
function bxRowChunks(data: Uint8Array, L: BxLayout, widths: number[], maxBytes: number, what: string): { blob: Uint8Array; rowStart: number; rows: number; layout: BxLayout }[] {
  if (data.byteLength <= maxBytes) return [{ blob: data, rowStart: 0, rows: L.rows, layout: L }];
  const SR = L.secondOrder ? L.superRows : 1;
  const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
  const unit = (32 * SR) / gcd(32, SR);
  const layoutOf = (rows: number) =>
    bxLayout({
      rows,
      cols: L.cols,
      groupSize: L.groupSize,
      widths,
      secondOrder: L.secondOrder,
      superGroup: L.secondOrder ? { rows: L.superRows, groups: L.superGroups } : undefined,
      scaleBits: L.secondOrder ? L.scaleBits : undefined,
      outlierSlots: L.outlierSlots,
    });
  let per = Math.floor((L.rows * maxBytes) / data.byteLength / unit) * unit;
  while (per >= unit && layoutOf(per).byteLength > maxBytes) per -= unit;
  if (per < unit) {
    throw new UnsupportedOpError('weight[bx]', WEBGPU_BACKEND_NAME, `${what}: ${unit} rows of this bx matrix do not fit the ${maxBytes}-byte storage binding limit`);
  }
  const src = new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  const out: { blob: Uint8Array; rowStart: number; rows: number; layout: BxLayout }[] = [];
  for (let r0 = 0; r0 < L.rows; r0 += per) {
    const rows = Math.min(per, L.rows - r0);
    const S = layoutOf(rows);
    const dst = new Uint32Array(S.byteLength / 4);
    const copy = (fromWord: number, toWord: number, words: number) => dst.set(src.subarray(fromWord, fromWord + words), toWord);
    copy(L.p4Offset / 4 + r0 * L.p4RowWords, S.p4Offset / 4, rows * L.p4RowWords);
    copy(L.p2Offset / 4 + r0 * L.p2RowWords, S.p2Offset / 4, rows * L.p2RowWords);
    copy(L.p1Offset / 4 + r0 * L.p1RowWords, S.p1Offset / 4, rows * L.p1RowWords);
    // Meta bits: r0 * M is a multiple of 32; the last word may carry bits of the next row (ignored).
    copy(L.metaOffset / 4 + (r0 * L.metaBits) / 32, S.metaOffset / 4, Math.min(S.metaWords, L.metaWords - (r0 * L.metaBits) / 32));
    if (L.secondOrder) copy(L.s2Offset / 4 + (r0 / SR) * L.tileCols, S.s2Offset / 4, S.tileRows * S.tileCols);
    copy(L.outlierOffset / 4 + r0 * L.outlierSlots, S.outlierOffset / 4, rows * L.outlierSlots);
    out.push({ blob: new Uint8Array(dst.buffer), rowStart: r0, rows, layout: S });
  }
  return out;
}
