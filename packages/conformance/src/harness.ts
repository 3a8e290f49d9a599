import type {
  Backend,
  BufferDType,
  CompiledProgram,
  DeviceBuffer,
  DeviceWeight,
  OpKind,
  Program,
  ReadbackData,
  RunParams,
} from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import { OracleMachine } from './oracle/machine.js';
import { decodeWeight, encodeWeight } from './weights.js';
import { assertClose, assertEqualInts, type Bound } from './tolerance.js';

/**
 * Mirrors every buffer, weight and run on a backend and on the float64
 * oracle, and releases what it created at the end of a test.
 */
export class Harness {
  readonly oracle = new OracleMachine();
  private readonly owned: (DeviceBuffer | DeviceWeight | CompiledProgram)[] = [];

  constructor(
    readonly backend: Backend,
    private readonly bound: (kind: OpKind) => Bound,
  ) {}

  buffer(dtype: BufferDType, rows: number, cols: number, label: string): DeviceBuffer {
    const b = this.backend.createBuffer(dtype, [rows, cols], label);
    this.owned.push(b);
    this.oracle.addBuffer(b);
    return b;
  }

  /** Encodes `values` into `dtype`, uploads it, and gives the oracle the decoded stored values. */
  async weight(name: string, dtype: WeightDType, shape: readonly number[], values: ArrayLike<number>): Promise<DeviceWeight> {
    const host = encodeWeight(name, dtype, shape, values);
    const w = await this.backend.uploadWeight(host);
    this.owned.push(w);
    this.oracle.addWeight(w, decodeWeight(host));
    return w;
  }

  write(b: DeviceBuffer, data: Float32Array | Int32Array, elementOffset = 0): void {
    this.backend.writeBuffer(b, data, elementOffset);
    this.oracle.write(b, data, elementOffset);
  }

  compile(program: Program): CompiledProgram {
    const c = this.backend.compile(program);
    this.owned.push(c);
    return c;
  }

  /** Runs on both sides; returns the backend's outputs and the oracle's. */
  async run(compiled: CompiledProgram, program: Program, params: RunParams): Promise<{ got: ReadbackData[]; want: (Float64Array | Int32Array)[] }> {
    const got = await this.backend.run(compiled, params);
    const want = this.oracle.run(program, params);
    if (got.length !== want.length) throw new Error(`run returned ${got.length} outputs, program has ${want.length}`);
    return { got, want };
  }

  /** Compiles (once per call), runs, and compares every output with the bound of `kind`. */
  async check(program: Program, params: RunParams, kind: OpKind, compiled?: CompiledProgram): Promise<ReadbackData[]> {
    const c = compiled ?? this.compile(program);
    const { got, want } = await this.run(c, program, params);
    program.outputs.forEach((o, i) => {
      const label = `${program.label}: output ${i} '${o.buffer.label}'`;
      const rows = o.rows === 'active' ? params.n : o.rows;
      if (got[i].length !== rows * o.buffer.shape[1]) {
        throw new Error(`${label}: ${got[i].length} values, expected ${rows} rows x ${o.buffer.shape[1]} = ${rows * o.buffer.shape[1]}`);
      }
      this.compare(label, o.buffer, got[i], want[i], kind);
    });
    return got;
  }

  /** Reads a whole buffer from both sides and compares (catches writes to rows >= n). */
  async checkBuffer(b: DeviceBuffer, kind: OpKind): Promise<void> {
    const got = await this.backend.readBuffer(b);
    this.compare(`buffer '${b.label}' (all ${b.shape[0]} rows)`, b, got, this.oracle.read(b), kind);
  }

  private compare(label: string, b: DeviceBuffer, got: ReadbackData, want: Float64Array | Int32Array, kind: OpKind): void {
    if (b.dtype === 'i32') {
      if (!(got instanceof Int32Array)) throw new Error(`${label}: i32 buffer read back as ${got.constructor.name}`);
      assertEqualInts(label, got, want);
    } else {
      if (!(got instanceof Float32Array)) throw new Error(`${label}: f32 buffer read back as ${got.constructor.name}`);
      assertClose(label, got, want, this.bound(kind));
    }
  }

  release(): void {
    for (const r of this.owned.reverse()) this.backend.release(r);
    this.owned.length = 0;
  }
}
