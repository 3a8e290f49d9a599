import type { DeviceBuffer, DeviceWeight, Program, RunParams } from '@bitexit/backend';
import { embed } from './embed.js';
import { rmsnorm } from './rmsnorm.js';
import { matmul } from './matmul.js';
import { rope } from './rope.js';
import { attention, kvStore } from './attention.js';
import { add, siluMul } from './elementwise.js';
import { argmax, lastRow } from './rows.js';
import { sample } from './sample.js';
import { exitCheck } from './exit.js';

interface OracleBuffer {
  dtype: 'f32' | 'i32';
  rows: number;
  cols: number;
  data: Float64Array | Int32Array;
}

/**
 * A float64 interpreter of the program IR, the reference every backend is
 * compared against. It mirrors the backend's buffers and weights by handle id
 * and executes ops one by one with the plain functions of this folder.
 */
export class OracleMachine {
  private readonly buffers = new Map<number, OracleBuffer>();
  private readonly weights = new Map<number, { shape: readonly number[]; data: Float64Array }>();

  addBuffer(b: DeviceBuffer): void {
    const [rows, cols] = b.shape;
    this.buffers.set(b.id, { dtype: b.dtype, rows, cols, data: b.dtype === 'i32' ? new Int32Array(rows * cols) : new Float64Array(rows * cols) });
  }

  /** `values` are the dequantised stored values of the weight. */
  addWeight(w: DeviceWeight, values: Float64Array): void {
    this.weights.set(w.id, { shape: w.shape, data: values });
  }

  write(b: DeviceBuffer, data: ArrayLike<number>, elementOffset = 0): void {
    const buf = this.buf(b);
    for (let i = 0; i < data.length; i++) buf.data[elementOffset + i] = data[i];
  }

  /** The whole buffer (all rows). */
  read(b: DeviceBuffer): Float64Array | Int32Array {
    return this.buf(b).data.slice();
  }

  private buf(b: DeviceBuffer): OracleBuffer {
    const buf = this.buffers.get(b.id);
    if (!buf) throw new Error(`oracle: unknown buffer '${b.label}'`);
    return buf;
  }

  private weight(w: DeviceWeight): Float64Array {
    const x = this.weights.get(w.id);
    if (!x) throw new Error(`oracle: unknown weight '${w.name}'`);
    return x.data;
  }

  /** Writes the first n rows of `dst` from `values` (n rows of dst's width). */
  private setRows(dst: DeviceBuffer, values: ArrayLike<number>): void {
    const buf = this.buf(dst);
    for (let i = 0; i < values.length; i++) buf.data[i] = values[i];
  }

  run(program: Program, params: RunParams): (Float64Array | Int32Array)[] {
    const { pos, n } = params;
    for (const input of params.inputs ?? []) this.write(input.buffer, input.data);
    // The open guarded region, if any: its ops run only while its condition holds (checked per op).
    let guard: Extract<Program['ops'][number], { kind: 'guard_begin' }> | null = null;
    const guardHolds = (g: NonNullable<typeof guard>) => {
      const exited = this.buf(g.exit).data[1]!;
      return g.runIf === 'running' ? exited < 0 : exited >= 0 && exited < g.layer!;
    };
    for (const op of program.ops) {
      if (op.kind === 'guard_begin') {
        guard = op;
        continue;
      }
      if (op.kind === 'guard_end') {
        guard = null;
        continue;
      }
      if (guard && !guardHolds(guard)) continue;
      // Row-wise ops may carry a fixed row count that replaces the run's n.
      const rows = 'rows' in op && op.rows !== undefined ? op.rows : n;
      switch (op.kind) {
        case 'embed': {
          const [vocab, dim] = op.table.shape;
          this.setRows(op.out, embed(this.weight(op.table), vocab, dim, this.buf(op.ids).data, n));
          break;
        }
        case 'rmsnorm':
          this.setRows(op.out, rmsnorm(this.buf(op.x).data, rows, op.x.shape[1], this.weight(op.weight), op.eps));
          break;
        case 'matmul': {
          const [outF, inF] = op.weight.shape;
          this.setRows(op.out, matmul(this.buf(op.x).data, rows, this.weight(op.weight), outF, inF, op.bias ? this.weight(op.bias) : undefined));
          break;
        }
        case 'rope':
          this.setRows(op.x, rope(this.buf(op.x).data, n, pos, op.heads, op.headDim, op.ropeDim, op.style, op.invFreq));
          break;
        case 'kv_store': {
          const kc = this.buf(op.kCache);
          const vc = this.buf(op.vCache);
          kvStore(kc.data as Float64Array, this.buf(op.k).data, n, pos, kc.cols, kc.rows);
          kvStore(vc.data as Float64Array, this.buf(op.v).data, n, pos, vc.cols, vc.rows);
          break;
        }
        case 'attention': {
          // The `mask` KV policy: earlier positions that exited before this layer are left out.
          const record = op.exitLayers ? this.buf(op.exitLayers).data : null;
          const masked = record ? (p: number) => p < pos && record[p]! < op.layer! : undefined;
          this.setRows(
            op.out,
            attention(this.buf(op.q).data, this.buf(op.kCache).data, this.buf(op.vCache).data, n, pos, op.heads, op.kvHeads, op.headDim, op.scale, masked),
          );
          break;
        }
        case 'exit_check': {
          const exit = this.buf(op.exit).data;
          if (exit[1]! >= 0 || this.buf(op.active).data[op.layer] === 0) break;
          const probs = this.buf(op.probs).data;
          const r = exitCheck(
            this.buf(op.x).data,
            n - 1,
            op.x.shape[1],
            this.weight(op.norm),
            op.eps,
            this.weight(op.lmHead),
            op.lmHead.shape[0]!,
            this.buf(op.drafts).data.slice(0, op.drafts.shape[1]),
            probs,
            this.weight(op.up),
            this.weight(op.upBias),
            this.weight(op.down),
            this.weight(op.downBias)[0]!,
            op.threshold,
            op.layer,
          );
          probs.set(r.probs);
          if (r.logits) this.buf(op.logits).data.set(r.logits);
          if (r.exit) exit.set(r.exit);
          break;
        }
        case 'exit_record': {
          const exited = op.exit ? this.buf(op.exit).data[1]! : -1;
          const last = exited >= 0 ? exited : op.lastLayer;
          const record = this.buf(op.exitLayers).data;
          for (let t = 0; t < n; t++) record[pos + t] = last;
          break;
        }
        case 'silu_mul':
          this.setRows(op.out, siluMul(this.buf(op.gate).data, this.buf(op.up).data, rows * op.gate.shape[1]));
          break;
        case 'add':
          this.setRows(op.out, add(this.buf(op.a).data, this.buf(op.b).data, rows * op.a.shape[1]));
          break;
        case 'last_row':
          this.setRows(op.out, lastRow(this.buf(op.x).data, n, op.x.shape[1]));
          break;
        case 'argmax':
          this.setRows(op.out, [argmax(this.buf(op.x).data, op.x.shape[1])]);
          break;
        case 'sample': {
          if (!params.sampling) throw new Error('oracle: sample op run without sampling params');
          const logits = this.buf(op.logits);
          this.setRows(op.out, [sample(logits.data, logits.cols, params.sampling, this.buf(op.history).data)]);
          break;
        }
      }
    }
    return program.outputs.map((o) => {
      const buf = this.buf(o.buffer);
      const rows = o.rows === 'active' ? n : o.rows;
      return buf.data.slice(0, rows * buf.cols);
    });
  }
}
