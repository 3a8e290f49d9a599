import { InvalidProgramError, UnsupportedOpError } from './errors.js';
import type { Op, Program, SamplingParams } from './program.js';
import type { BackendCapabilities } from './backend.js';
import type { DeviceBuffer, DeviceWeight } from './resources.js';

/**
 * Checks that a program's shapes fit together and that the backend has a
 * kernel for every op and weight type. Every backend calls this from
 * `compile`, so shape mistakes surface as one typed error before any work.
 */
export function validateProgram(program: Program, caps: BackendCapabilities): void {
  const fail = (i: number, op: Op, msg: string): never => {
    throw new InvalidProgramError(`program '${program.label}', op ${i} (${op.kind}): ${msg}`);
  };
  if (!Number.isInteger(program.maxRows) || program.maxRows < 1) {
    throw new InvalidProgramError(`program '${program.label}': maxRows must be a positive integer`);
  }
  // Rows an op touches: its fixed `rows` when set, else every row a run may use.
  let need = program.maxRows;
  const rowsOk = (b: DeviceBuffer) => b.shape[0] >= need;
  const cols = (b: DeviceBuffer) => b.shape[1];
  const f32 = (i: number, op: Op, b: DeviceBuffer, role: string, needRows = true) => {
    if (b.dtype !== 'f32') fail(i, op, `${role} '${b.label}' must be f32`);
    if (needRows && !rowsOk(b)) fail(i, op, `${role} '${b.label}' has ${b.shape[0]} rows, the op needs ${need}`);
  };
  const i32 = (i: number, op: Op, b: DeviceBuffer, role: string, width: number) => {
    if (b.dtype !== 'i32' || cols(b) !== width) fail(i, op, `${role} '${b.label}' must be i32 with ${width} cols`);
  };
  const exitBuffer = (i: number, op: Op, b: DeviceBuffer) => {
    if (b.dtype !== 'i32' || cols(b) < 2) fail(i, op, `exit '${b.label}' must be i32 [1, 2]`);
  };
  let guardOpen = false;
  const weightOk = (op: Op, w: DeviceWeight) => {
    if (!caps.weightDTypes.includes(w.dtype)) {
      throw new UnsupportedOpError(`${op.kind}[${w.dtype}]`, caps.name, `weight '${w.name}' is ${w.dtype}`);
    }
  };

  program.ops.forEach((op, i) => {
    if (!caps.ops.includes(op.kind)) throw new UnsupportedOpError(op.kind, caps.name);
    const fixed = 'rows' in op ? op.rows : undefined;
    if (fixed !== undefined && (!Number.isInteger(fixed) || fixed < 1)) fail(i, op, `rows must be a positive integer, got ${fixed}`);
    if (fixed !== undefined && fixed > program.maxRows) fail(i, op, `rows ${fixed} exceeds the program's maxRows ${program.maxRows}`);
    need = fixed ?? program.maxRows;
    switch (op.kind) {
      case 'embed': {
        weightOk(op, op.table);
        if (op.table.shape.length !== 2) fail(i, op, 'table must be 2-D');
        if (op.ids.dtype !== 'i32' || !rowsOk(op.ids) || cols(op.ids) !== 1) fail(i, op, 'ids must be i32 [rows, 1]');
        f32(i, op, op.out, 'out');
        if (cols(op.out) !== op.table.shape[1]) fail(i, op, `out has ${cols(op.out)} cols, table dim is ${op.table.shape[1]}`);
        break;
      }
      case 'rmsnorm': {
        weightOk(op, op.weight);
        f32(i, op, op.x, 'x');
        f32(i, op, op.out, 'out');
        if (op.weight.shape.length !== 1 || op.weight.shape[0] !== cols(op.x) || cols(op.out) !== cols(op.x)) {
          fail(i, op, `weight [${op.weight.shape}] must be [${cols(op.x)}] and out as wide as x`);
        }
        if (!(op.eps > 0)) fail(i, op, 'eps must be > 0');
        break;
      }
      case 'matmul': {
        weightOk(op, op.weight);
        f32(i, op, op.x, 'x');
        f32(i, op, op.out, 'out');
        const [n, k] = op.weight.shape;
        if (op.weight.shape.length !== 2) fail(i, op, 'weight must be 2-D');
        if (cols(op.x) !== k) fail(i, op, `x has ${cols(op.x)} cols, weight '${op.weight.name}' expects ${k}`);
        if (cols(op.out) !== n) fail(i, op, `out has ${cols(op.out)} cols, weight '${op.weight.name}' gives ${n}`);
        if (op.x.id === op.out.id) fail(i, op, 'out must not alias x');
        if (op.bias) {
          weightOk(op, op.bias);
          if (op.bias.shape.length !== 1 || op.bias.shape[0] !== n) fail(i, op, `bias must be [${n}]`);
        }
        break;
      }
      case 'rope': {
        f32(i, op, op.x, 'x');
        if (cols(op.x) !== op.heads * op.headDim) fail(i, op, `x has ${cols(op.x)} cols, expected heads*headDim = ${op.heads * op.headDim}`);
        if (op.ropeDim % 2 !== 0 || op.ropeDim > op.headDim || op.ropeDim < 2) fail(i, op, `ropeDim ${op.ropeDim} must be even and <= headDim`);
        if (op.invFreq.length !== op.ropeDim / 2) fail(i, op, `invFreq has ${op.invFreq.length} entries, expected ${op.ropeDim / 2}`);
        break;
      }
      case 'kv_store': {
        f32(i, op, op.k, 'k');
        f32(i, op, op.v, 'v');
        f32(i, op, op.kCache, 'kCache', false);
        f32(i, op, op.vCache, 'vCache', false);
        if (cols(op.kCache) !== cols(op.k) || cols(op.vCache) !== cols(op.v)) fail(i, op, 'cache width must equal k/v width');
        break;
      }
      case 'attention': {
        f32(i, op, op.q, 'q');
        f32(i, op, op.out, 'out');
        f32(i, op, op.kCache, 'kCache', false);
        f32(i, op, op.vCache, 'vCache', false);
        if (op.heads % op.kvHeads !== 0) fail(i, op, `heads ${op.heads} not a multiple of kvHeads ${op.kvHeads}`);
        if (cols(op.q) !== op.heads * op.headDim || cols(op.out) !== cols(op.q)) fail(i, op, 'q/out must be [rows, heads*headDim]');
        if (cols(op.kCache) !== op.kvHeads * op.headDim || cols(op.vCache) !== op.kvHeads * op.headDim) {
          fail(i, op, 'caches must be [context, kvHeads*headDim]');
        }
        if ((op.exitLayers === undefined) !== (op.layer === undefined)) fail(i, op, 'exitLayers and layer go together');
        if (op.exitLayers) {
          i32(i, op, op.exitLayers, 'exitLayers', 1);
          if (!Number.isInteger(op.layer) || op.layer! < 0) fail(i, op, `layer must be a non-negative integer, got ${op.layer}`);
          if (op.exitLayers.shape[0] < op.kCache.shape[0]) fail(i, op, 'exitLayers must have a row per cache row');
        }
        break;
      }
      case 'silu_mul':
      case 'add': {
        const [a, b] = op.kind === 'add' ? [op.a, op.b] : [op.gate, op.up];
        f32(i, op, a, 'a');
        f32(i, op, b, 'b');
        f32(i, op, op.out, 'out');
        if (cols(a) !== cols(b) || cols(a) !== cols(op.out)) fail(i, op, 'operands must have equal widths');
        break;
      }
      case 'last_row': {
        f32(i, op, op.x, 'x');
        f32(i, op, op.out, 'out', false);
        if (cols(op.x) !== cols(op.out)) fail(i, op, 'out must be as wide as x');
        break;
      }
      case 'argmax': {
        f32(i, op, op.x, 'x', false);
        if (op.out.dtype !== 'i32') fail(i, op, 'out must be i32');
        break;
      }
      case 'sample': {
        f32(i, op, op.logits, 'logits', false);
        if (op.out.dtype !== 'i32' || op.history.dtype !== 'i32') fail(i, op, 'out and history must be i32');
        break;
      }
      case 'exit_check': {
        f32(i, op, op.x, 'x');
        const dim = cols(op.x);
        const k = cols(op.drafts);
        for (const w of [op.norm, op.lmHead, op.up, op.upBias, op.down, op.downBias]) weightOk(op, w);
        if (op.norm.shape.length !== 1 || op.norm.shape[0] !== dim) fail(i, op, `norm must be [${dim}]`);
        if (op.lmHead.shape.length !== 2 || op.lmHead.shape[1] !== dim) fail(i, op, `lmHead must be [vocab, ${dim}]`);
        const vocab = op.lmHead.shape[0]!;
        if (!(op.eps > 0)) fail(i, op, 'eps must be > 0');
        i32(i, op, op.drafts, 'drafts', k);
        if (k < 1) fail(i, op, 'drafts must hold at least one token');
        f32(i, op, op.probs, 'probs', false);
        if (cols(op.probs) !== k) fail(i, op, `probs must be [1, ${k}]`);
        if (!Number.isInteger(op.layer) || op.layer < 0) fail(i, op, `layer must be a non-negative integer, got ${op.layer}`);
        i32(i, op, op.active, 'active', cols(op.active));
        if (cols(op.active) <= op.layer) fail(i, op, `active has ${cols(op.active)} entries, layer is ${op.layer}`);
        const hidden = op.up.shape[0]!;
        if (op.up.shape.length !== 2 || op.up.shape[1] !== 3 * k) fail(i, op, `up must be [hidden, ${3 * k}]`);
        if (op.upBias.shape.length !== 1 || op.upBias.shape[0] !== hidden) fail(i, op, `upBias must be [${hidden}]`);
        if (op.down.shape.length !== 2 || op.down.shape[0] !== 1 || op.down.shape[1] !== hidden) fail(i, op, `down must be [1, ${hidden}]`);
        if (op.downBias.shape.length !== 1 || op.downBias.shape[0] !== 1) fail(i, op, 'downBias must be [1]');
        if (typeof op.threshold !== 'number' || Number.isNaN(op.threshold)) fail(i, op, 'threshold must be a number');
        f32(i, op, op.logits, 'logits', false);
        if (cols(op.logits) !== vocab) fail(i, op, `logits must be [1, ${vocab}]`);
        exitBuffer(i, op, op.exit);
        break;
      }
      case 'guard_begin': {
        if (guardOpen) fail(i, op, 'guarded regions do not nest: close the previous one with guard_end first');
        guardOpen = true;
        exitBuffer(i, op, op.exit);
        if (op.runIf !== 'running' && op.runIf !== 'exited_before') fail(i, op, `runIf must be 'running' or 'exited_before'`);
        if (op.runIf === 'exited_before' && (!Number.isInteger(op.layer) || op.layer! < 0)) fail(i, op, 'exited_before needs a layer');
        break;
      }
      case 'guard_end': {
        if (!guardOpen) fail(i, op, 'guard_end without guard_begin');
        guardOpen = false;
        break;
      }
      case 'exit_record': {
        i32(i, op, op.exitLayers, 'exitLayers', 1);
        if (op.exit) exitBuffer(i, op, op.exit);
        if (!Number.isInteger(op.lastLayer) || op.lastLayer < 0) fail(i, op, `lastLayer must be a non-negative integer`);
        break;
      }
    }
  });
  if (guardOpen) throw new InvalidProgramError(`program '${program.label}': a guard_begin has no guard_end`);
  for (const o of program.outputs) {
    if (o.rows !== 'active' && (o.rows < 1 || o.rows > o.buffer.shape[0])) {
      throw new InvalidProgramError(`program '${program.label}': output '${o.buffer.label}' reads ${o.rows} rows of ${o.buffer.shape[0]}`);
    }
  }
}

/** Checks a run's scalars against the compiled program and a KV-cache length. */
export function validateRunParams(label: string, maxRows: number, n: number, pos: number): void {
  if (!Number.isInteger(n) || n < 1 || n > maxRows) {
    throw new InvalidProgramError(`program '${label}': n=${n} outside 1..${maxRows}`);
  }
  if (!Number.isInteger(pos) || pos < 0) throw new InvalidProgramError(`program '${label}': pos=${pos} must be a non-negative integer`);
}

/** Checks a run's sampling parameters (`historyCapacity`: rows of the program's history buffer). */
export function validateSamplingParams(label: string, p: SamplingParams, historyCapacity: number): void {
  const bad = (what: string): never => {
    throw new InvalidProgramError(`program '${label}': sampling ${what}`);
  };
  if (!(p.temperature >= 0) && !(p.temperature <= 0)) bad(`temperature ${p.temperature} is not a number`);
  if (!Number.isInteger(p.topK) || p.topK < 0) bad(`topK ${p.topK} must be a non-negative integer`);
  if (!(p.topP > 0 && p.topP <= 1)) bad(`topP ${p.topP} must be in (0, 1]`);
  if (!(p.minP >= 0 && p.minP <= 1)) bad(`minP ${p.minP} must be in [0, 1]`);
  if (!(p.repetitionPenalty > 0) || !Number.isFinite(p.repetitionPenalty)) bad(`repetitionPenalty ${p.repetitionPenalty} must be > 0`);
  if (!Number.isInteger(p.historyLength) || p.historyLength < 0 || p.historyLength > historyCapacity) {
    bad(`historyLength ${p.historyLength} must be an integer in 0..${historyCapacity} (the history buffer's size)`);
  }
  if (!(p.uniform >= 0 && p.uniform < 1)) bad(`uniform ${p.uniform} must be in [0, 1)`);
}
