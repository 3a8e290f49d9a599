/**
 * The CUDA backend: handle bookkeeping and validation in TypeScript (same
 * rules and typed errors as the CPU reference), device work in the addon.
 * A compiled program is a list of kernel launches captured into a CUDA graph
 * on its first run and replayed on every later run; each run uploads its
 * scalars and inputs, replays, and reads the outputs back once.
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
  type OpKind,
  type Program,
  type ReadbackData,
  type RunParams,
} from '@bitexit/backend';
import { BitexitError, parseBx, weightByteLength, type HostTensor, type WeightDType } from '@bitexit/format';
import type { NativeContext } from './native.js';

export const CUDA_BACKEND_NAME = 'cuda';

/** Ops with CUDA kernels: every op of program.ts, SpecEE's early-exit ops included. */
export const CUDA_OPS: readonly OpKind[] = [
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
export const CUDA_WEIGHT_DTYPES: readonly WeightDType[] = ['f32', 'f16', 'bf16', 'q8_0', 'bx'];

const DTYPE_CODE: Record<string, number> = { f32: 0, f16: 1, bf16: 2, q8_0: 3, bx: 4 };
const OP_CODE: Record<string, number> = {
  embed: 1,
  rmsnorm: 2,
  matmul: 3,
  rope: 4,
  kv_store: 5,
  attention: 6,
  silu_mul: 7,
  add: 8,
  last_row: 9,
  argmax: 10,
  sample: 11,
  exit_check: 12,
  guard_begin: 13,
  guard_end: 14,
  exit_record: 15,
};
/** Doubles per op record passed to the addon's compile(). */
const RECORD = 32;
/** Must match ATT_CHUNK in kernels.cu. */
const ATTENTION_CHUNK = 256;

/** CUDA runtime error codes that leave the context unusable (sticky errors) or mean the device went away. */
const DEVICE_LOST_CODES = new Set([35, 46, 100, 101, 214, 215, 700, 701, 702, 703, 704, 705, 709, 710, 711, 712, 713, 714, 715, 716, 717, 718, 719, 720, 999]);

/** Maps an addon error (carrying cudaCode) to the contract's typed errors. */
export function mapCudaError(e: unknown, what: string, bytes = 0): Error {
  if (e instanceof BitexitError) return e;
  const err = e as Error & { cudaCode?: number };
  const code = err?.cudaCode;
  if (code === 2) return new OutOfMemoryError(CUDA_BACKEND_NAME, what, bytes);
  if (code !== undefined && DEVICE_LOST_CODES.has(code)) return new DeviceLostError(CUDA_BACKEND_NAME, `${what}: ${err.message}`);
  return new BitexitError('E_CUDA', `backend 'cuda': ${what}: ${err?.message ?? String(e)}`, { cause: e });
}

function positiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}


function pow2AtLeast(v: number): number {
  let p = 1;
  while (p < v) p *= 2;
  return p;
}

/** Bytes of the sample kernel's scratch (sampleScratchBytes in kernels.cu). */
function sampleScratchBytes(V: number): number {
  const P = pow2AtLeast(V);
  return P * 16 + Math.ceil(V / 16) * 16;
}

interface BufferEntry {
  readonly handle: DeviceBuffer;
  readonly nid: number;
  readonly bytes: number;
}

interface WeightEntry {
  readonly handle: DeviceWeight;
  readonly nid: number;
  /** bx: columns rounded up to whole groups (the product's scratch holds x in group-interleaved order). */
  readonly paddedCols: number;
}

interface ProgramEntry {
  readonly handle: CompiledProgram;
  readonly nid: number;
  readonly scratch: { nid: number; bytes: number }[];
  readonly cacheRows: number;
  readonly outputs: { nid: number; cols: number; rows: 'active' | number; dtype: BufferDType }[];
  readonly uses: { kind: 'buffer' | 'weight'; id: number; label: string }[];
  readonly sample?: { historyCapacity: number };
  readonly scratchBytes: number;
  checkedEpoch: number;
}

let nextId = 1;

export class CudaBackend implements Backend {
  readonly specificationVersion = BACKEND_SPECIFICATION_VERSION;
  readonly capabilities: BackendCapabilities;

  private readonly buffers = new Map<number, BufferEntry>();
  private readonly weights = new Map<number, WeightEntry>();
  private readonly programs = new Map<number, ProgramEntry>();
  private readonly handles = new HandleChecks('cuda');
  private bytesInUse = 0;
  private disposed = false;
  /** Device work is serialised: one stream, one set of pinned staging buffers. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ctx: NativeContext,
    device: string,
    private readonly totalBytes: number,
  ) {
    this.capabilities = {
      name: CUDA_BACKEND_NAME,
      device,
      floatPrecision: 32,
      weightDTypes: Object.freeze([...CUDA_WEIGHT_DTYPES]),
      ops: Object.freeze([...CUDA_OPS]),
      limits: { maxBufferBytes: Math.min(totalBytes, 2 ** 53) },
    };
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const p = this.queue.then(work, work);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private nativeAlloc(what: string, bytes: number): number {
    if (bytes > this.totalBytes) throw new OutOfMemoryError(CUDA_BACKEND_NAME, `${what} (larger than the device's memory)`, bytes);
    try {
      return this.ctx.alloc(bytes);
    } catch (e) {
      throw mapCudaError(e, `allocating ${what}`, bytes);
    }
  }

  // ---------------------------------------------------------------- resources

  async uploadWeight(tensor: HostTensor): Promise<DeviceWeight> {
    this.live();
    const { name, dtype, shape, data } = tensor;
    if (!this.capabilities.weightDTypes.includes(dtype)) {
      throw new UnsupportedOpError(`weight[${String(dtype)}]`, CUDA_BACKEND_NAME, `tensor '${name}' is stored as ${String(dtype)}`);
    }
    if (!Array.isArray(shape) || shape.length < 1 || !shape.every(positiveInt)) {
      throw new InvalidProgramError(`weight '${name}': shape [${String(shape)}] must be positive integers`);
    }
    const cols = shape[shape.length - 1];
    const rows = shape.length === 1 ? 1 : shape.slice(0, -1).reduce((a, b) => a * b, 1);
    if (dtype === 'q8_0' && cols % 32 !== 0) throw new InvalidProgramError(`weight '${name}': q8_0 rows must be multiples of 32, got ${cols}`);
    if (dtype === 'bx' && !(data instanceof Uint8Array)) throw new InvalidProgramError(`weight '${name}': bx data must be a Uint8Array`);
    const bytes = dtype === 'bx' ? data.byteLength : weightByteLength(dtype, shape);
    if (!(data instanceof Uint8Array) || data.byteLength !== bytes) {
      throw new InvalidProgramError(`weight '${name}': ${data?.byteLength ?? 0} bytes of data, ${dtype} [${shape.join(', ')}] needs ${bytes}`);
    }
    let paddedCols = 0;
    if (dtype === 'bx') {
      const view = parseBx(data, `weight '${name}'`); // ModelFormatError for a corrupt blob
      if (shape.length !== 2 || view.layout.rows !== shape[0] || view.layout.cols !== shape[1]) {
        throw new InvalidProgramError(`weight '${name}': shape [${shape.join(', ')}] but its bx blob is [${view.layout.rows}, ${view.layout.cols}]`);
      }
      paddedCols = Math.ceil(shape[1] / view.layout.groupSize) * view.layout.groupSize;
    }
    if (bytes > this.totalBytes) throw new OutOfMemoryError(CUDA_BACKEND_NAME, `weight '${name}' (larger than the device's memory)`, bytes);
    let nid: number;
    try {
      nid = await this.serial(() => this.ctx.uploadWeight(DTYPE_CODE[dtype], rows, cols, data));
    } catch (e) {
      throw mapCudaError(e, `uploading weight '${name}'`, bytes);
    }
    const handle: DeviceWeight = Object.freeze({
      kind: 'weight' as const,
      id: nextId++,
      name,
      dtype,
      shape: Object.freeze([...shape]),
      byteLength: bytes,
    });
    this.weights.set(handle.id, { handle, nid, paddedCols });
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
    const bytes = shape[0] * shape[1] * 4;
    const nid = this.nativeAlloc(`buffer '${label}'`, bytes);
    const handle: DeviceBuffer = Object.freeze({
      kind: 'buffer' as const,
      id: nextId++,
      dtype,
      shape: Object.freeze([shape[0], shape[1]]) as unknown as readonly [number, number],
      label,
    });
    this.buffers.set(handle.id, { handle, nid, bytes });
    this.handles.issue(handle);
    this.bytesInUse += bytes;
    return handle;
  }

  writeBuffer(buffer: DeviceBuffer, data: Float32Array | Int32Array, elementOffset = 0): void {
    this.live();
    const e = this.buffer(buffer);
    this.checkWrite(e, data, elementOffset);
    try {
      this.ctx.write(e.nid, data, elementOffset * 4);
    } catch (err) {
      throw mapCudaError(err, `writing buffer '${e.handle.label}'`);
    }
  }

  async readBuffer(buffer: DeviceBuffer): Promise<ReadbackData> {
    this.live();
    const e = this.buffer(buffer);
    let ab: ArrayBuffer;
    try {
      ab = await this.serial(() => this.ctx.read(e.nid));
    } catch (err) {
      throw mapCudaError(err, `reading buffer '${e.handle.label}'`);
    }
    return e.handle.dtype === 'f32' ? new Float32Array(ab) : new Int32Array(ab);
  }

  release(resource: DeviceBuffer | DeviceWeight | CompiledProgram): void {
    this.live();
    switch (resource?.kind) {
      case 'buffer': {
        const e = this.buffer(resource);
        this.buffers.delete(e.handle.id);
        this.ctx.free(e.nid);
        this.bytesInUse -= e.bytes;
        break;
      }
      case 'weight': {
        const e = this.weight(resource);
        this.weights.delete(e.handle.id);
        this.ctx.free(e.nid);
        this.bytesInUse -= e.handle.byteLength;
        break;
      }
      case 'program': {
        const e = this.program(resource);
        this.programs.delete(e.handle.id);
        this.ctx.releaseProgram(e.nid);
        for (const s of e.scratch) this.ctx.free(s.nid);
        this.bytesInUse -= e.scratchBytes;
        break;
      }
      default:
        throw new InvalidHandleError(`cuda backend: cannot release ${String((resource as { kind?: unknown })?.kind)}: not a buffer, weight or program`);
    }
    this.handles.noteRelease();
  }

  memoryInUse(): number {
    return this.bytesInUse;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    this.buffers.clear();
    this.weights.clear();
    this.programs.clear();
    this.bytesInUse = 0;
    this.ctx.dispose();
  }

  // ---------------------------------------------------------------- programs

  compile(program: Program): CompiledProgram {
    this.live();
    validateProgram(program, this.capabilities);
    const uses = new Map<number, { kind: 'buffer' | 'weight'; id: number; label: string }>();
    const scratch: { nid: number; bytes: number }[] = [];
    const maxRows = program.maxRows;
    const label = program.label;
    const buf = (b: DeviceBuffer, dtype?: BufferDType): number => {
      const e = this.buffer(b);
      if (dtype && e.handle.dtype !== dtype) throw new InvalidProgramError(`program '${label}': buffer '${b.label}' must be ${dtype}`);
      uses.set(e.handle.id, { kind: 'buffer', id: e.handle.id, label: e.handle.label });
      return e.nid;
    };
    const wt = (w: DeviceWeight): WeightEntry => {
      const e = this.weight(w);
      uses.set(e.handle.id, { kind: 'weight', id: e.handle.id, label: e.handle.name });
      return e;
    };
    const alloc = (what: string, bytes: number): number => {
      const nid = this.nativeAlloc(`${what} for program '${label}'`, bytes);
      scratch.push({ nid, bytes });
      return nid;
    };
    const records = new Float64Array(program.ops.length * RECORD);
    let cacheRows = Infinity;
    let sample: { historyCapacity: number } | undefined;
    try {
      program.ops.forEach((op, i) => {
        const r = records.subarray(i * RECORD, (i + 1) * RECORD);
        r[0] = OP_CODE[op.kind];
        r[1] = 'rows' in op && op.rows !== undefined ? op.rows : 0;
        switch (op.kind) {
          case 'embed':
            r[2] = wt(op.table).nid;
            r[3] = buf(op.ids, 'i32');
            r[4] = buf(op.out, 'f32');
            break;
          case 'rmsnorm':
            r[2] = buf(op.x, 'f32');
            r[3] = wt(op.weight).nid;
            r[4] = op.eps;
            r[5] = buf(op.out, 'f32');
            break;
          case 'matmul': {
            const w = wt(op.weight);
            r[2] = buf(op.x, 'f32');
            r[3] = w.nid;
            r[4] = op.bias ? wt(op.bias).nid : 0;
            r[5] = buf(op.out, 'f32');
            r[6] = w.handle.dtype === 'bx' ? alloc('bx permuted x', Math.max(1, op.rows ?? maxRows) * w.paddedCols * 4) : 0;
            r[7] = 0; // split-K chosen by the addon from the row count and the GPU's SM count
            break;
          }
          case 'rope': {
            r[2] = buf(op.x, 'f32');
            r[3] = op.heads;
            r[4] = op.headDim;
            r[5] = op.ropeDim;
            r[6] = op.style === 'adjacent' ? 0 : 1;
            const inv = Float32Array.from(op.invFreq);
            const nid = alloc('rope frequencies', Math.max(4, inv.byteLength));
            this.ctx.write(nid, inv, 0);
            r[7] = nid;
            break;
          }
          case 'kv_store':
            cacheRows = Math.min(cacheRows, op.kCache.shape[0], op.vCache.shape[0]);
            r[2] = buf(op.k, 'f32');
            r[3] = buf(op.v, 'f32');
            r[4] = buf(op.kCache, 'f32');
            r[5] = buf(op.vCache, 'f32');
            r[6] = op.k.shape[1];
            r[7] = op.v.shape[1];
            break;
          case 'attention': {
            const rowsInCache = Math.min(op.kCache.shape[0], op.vCache.shape[0]);
            cacheRows = Math.min(cacheRows, rowsInCache);
            r[2] = buf(op.q, 'f32');
            r[3] = buf(op.kCache, 'f32');
            r[4] = buf(op.vCache, 'f32');
            r[5] = buf(op.out, 'f32');
            r[6] = op.heads;
            r[7] = op.kvHeads;
            r[8] = op.headDim;
            r[9] = op.scale;
            r[10] = rowsInCache;
            const splits = Math.ceil(rowsInCache / ATTENTION_CHUNK);
            r[11] = alloc('attention partials', maxRows * op.heads * splits * (op.headDim + 2) * 4);
            // SpecEE 'mask' KV policy: cache rows of positions that exited before this layer are left out.
            r[12] = op.exitLayers ? buf(op.exitLayers, 'i32') : 0;
            r[13] = op.layer ?? 0;
            break;
          }
          case 'silu_mul':
            r[2] = buf(op.gate, 'f32');
            r[3] = buf(op.up, 'f32');
            r[4] = buf(op.out, 'f32');
            r[5] = op.gate.shape[1];
            break;
          case 'add':
            r[2] = buf(op.a, 'f32');
            r[3] = buf(op.b, 'f32');
            r[4] = buf(op.out, 'f32');
            r[5] = op.a.shape[1];
            break;
          case 'last_row':
            r[2] = buf(op.x, 'f32');
            r[3] = buf(op.out, 'f32');
            r[4] = op.x.shape[1];
            break;
          case 'argmax':
            r[2] = buf(op.x, 'f32');
            r[3] = buf(op.out, 'i32');
            r[4] = op.x.shape[1];
            break;
          case 'sample': {
            const V = op.logits.shape[1];
            r[2] = buf(op.logits, 'f32');
            r[3] = buf(op.history, 'i32');
            r[4] = buf(op.out, 'i32');
            r[5] = V;
            r[6] = alloc('sampling scratch', sampleScratchBytes(V));
            sample = { historyCapacity: op.history.shape[0] * op.history.shape[1] };
            break;
          }
          case 'exit_check': {
            const head = wt(op.lmHead);
            const dim = op.x.shape[1];
            const k = op.drafts.shape[1];
            r[2] = buf(op.x, 'f32');
            r[3] = wt(op.norm).nid;
            r[4] = op.eps;
            r[5] = head.nid;
            r[6] = buf(op.drafts, 'i32');
            r[7] = buf(op.probs, 'f32');
            r[8] = buf(op.active, 'i32');
            r[9] = wt(op.up).nid;
            r[10] = wt(op.upBias).nid;
            r[11] = wt(op.down).nid;
            r[12] = wt(op.downBias).nid;
            r[13] = op.threshold;
            r[14] = op.layer;
            r[15] = buf(op.logits, 'f32');
            r[16] = buf(op.exit, 'i32');
            // h (dim floats, padded to 8 bytes) then the 3k float64 features.
            r[17] = alloc('exit-check scratch', Math.ceil(dim / 2) * 8 + 3 * k * 8);
            r[18] = head.handle.dtype === 'bx' ? alloc('bx permuted x', head.paddedCols * 4) : 0;
            r[19] = k;
            r[20] = op.upBias.shape[0];
            r[21] = dim;
            break;
          }
          case 'guard_begin':
            r[2] = buf(op.exit, 'i32');
            r[3] = op.runIf === 'running' ? 1 : 2;
            r[4] = op.layer ?? 0;
            break;
          case 'guard_end':
            break;
          case 'exit_record':
            r[2] = op.exit ? buf(op.exit, 'i32') : 0;
            r[3] = buf(op.exitLayers, 'i32');
            r[4] = op.lastLayer;
            r[5] = op.exitLayers.shape[0];
            break;
          default:
            throw new UnsupportedOpError((op as { kind: string }).kind, CUDA_BACKEND_NAME);
        }
      });
    } catch (e) {
      for (const s of scratch) this.ctx.free(s.nid);
      throw e;
    }
    const outputs = program.outputs.map((o) => {
      const e = this.buffer(o.buffer);
      uses.set(e.handle.id, { kind: 'buffer', id: e.handle.id, label: e.handle.label });
      return { nid: e.nid, cols: e.handle.shape[1], rows: o.rows, dtype: e.handle.dtype };
    });
    let nid: number;
    try {
      nid = this.ctx.compile(records, maxRows);
    } catch (e) {
      for (const s of scratch) this.ctx.free(s.nid);
      throw mapCudaError(e, `compiling program '${label}'`);
    }
    const scratchBytes = scratch.reduce((a, s) => a + s.bytes, 0);
    const handle: CompiledProgram = Object.freeze({ kind: 'program' as const, id: nextId++, label, maxRows });
    this.programs.set(handle.id, {
      handle,
      nid,
      scratch,
      cacheRows,
      outputs,
      uses: [...uses.values()],
      sample,
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
    const { label } = p.handle;
    const { pos, n } = params;
    const s = params.sampling;
    if (p.sample) {
      if (!s) throw new InvalidProgramError(`program '${label}': the sample op needs RunParams.sampling`);
      validateSamplingParams(label, s, p.sample.historyCapacity);
    }
    const inputs: [number, Float32Array | Int32Array][] = [];
    for (const input of params.inputs ?? []) {
      const e = this.buffer(input.buffer);
      this.checkWrite(e, input.data, 0);
      inputs.push([e.nid, input.data]);
    }
    const scalars = new Float64Array([pos, n, s?.topK ?? 0, s?.historyLength ?? 0, s?.temperature ?? 0, s?.topP ?? 1, s?.minP ?? 0, s?.repetitionPenalty ?? 1, s?.uniform ?? 0]);
    const outputs: [number, number][] = p.outputs.map((o) => [o.nid, (o.rows === 'active' ? n : o.rows) * o.cols * 4]);
    let result;
    try {
      result = await this.serial(() => this.ctx.run(p.nid, scalars, inputs, outputs));
    } catch (e) {
      throw mapCudaError(e, `running program '${label}'`);
    }
    const [code, arg, row] = result.error;
    if (code === 1) throw new InvalidProgramError(`program '${label}': token id ${arg} at row ${row} is outside the vocabulary`);
    if (code !== 0) throw new BitexitError('E_CUDA', `program '${label}': kernel reported error ${code}`);
    return result.outputs.map((ab, i) => (p.outputs[i].dtype === 'f32' ? new Float32Array(ab) : new Int32Array(ab)));
  }

  // ---------------------------------------------------------------- benchmarks (bench/ and the GPU bundle)

  /** Milliseconds per product of `weight` with `rows` rows of x (timed on the device, in one graph). */
  async benchMatvec(weight: DeviceWeight, rows: number, iters = 50): Promise<number> {
    const w = this.weight(weight);
    const K = weight.shape[1];
    const N = weight.shape[0];
    const x = this.createBuffer('f32', [rows, K], 'bench x');
    const out = this.createBuffer('f32', [rows, N], 'bench out');
    const xs = this.createBuffer('f32', [rows, Math.max(1, w.paddedCols)], 'bench permuted x');
    try {
      const data = new Float32Array(rows * K);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37);
      this.writeBuffer(x, data);
      return await this.serial(() => this.ctx.benchMatvec(w.nid, this.buffer(x).nid, this.buffer(out).nid, this.buffer(xs).nid, rows, iters, 0));
    } catch (e) {
      throw mapCudaError(e, 'benchMatvec');
    } finally {
      this.release(x);
      this.release(out);
      this.release(xs);
    }
  }

  /** Milliseconds per device-to-device cudaMemcpy of `bytes`. */
  async benchCopy(bytes: number, iters = 20): Promise<number> {
    try {
      return await this.serial(() => this.ctx.benchCopy(bytes, iters));
    } catch (e) {
      throw mapCudaError(e, 'benchCopy', bytes);
    }
  }

  // ---------------------------------------------------------------- handles

  private live(): void {
    if (this.disposed) throw new InvalidHandleError('cuda backend: this instance was disposed');
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

  private checkWrite(e: BufferEntry, data: Float32Array | Int32Array, elementOffset: number): void {
    this.handles.checkWrite(e.handle, data, elementOffset);
  }
}
