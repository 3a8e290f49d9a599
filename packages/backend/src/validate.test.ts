import { describe, expect, it } from 'vitest';
import type { BackendCapabilities } from './backend.js';
import { InvalidProgramError, UnsupportedOpError } from './errors.js';
import { OP_KINDS, type Op, type Program } from './program.js';
import type { DeviceBuffer, DeviceWeight } from './resources.js';
import { validateProgram, validateRunParams } from './validate.js';

const caps: BackendCapabilities = {
  name: 'test',
  device: 'test',
  floatPrecision: 32,
  weightDTypes: ['f32', 'f16'],
  ops: OP_KINDS,
  limits: { maxBufferBytes: 1 << 30 },
};
let id = 0;
const buf = (rows: number, cols: number, dtype: 'f32' | 'i32' = 'f32'): DeviceBuffer => ({ kind: 'buffer', id: ++id, dtype, shape: [rows, cols], label: `b${id}` });
const w = (shape: number[], dtype: DeviceWeight['dtype'] = 'f32'): DeviceWeight => ({ kind: 'weight', id: ++id, name: `w${id}`, dtype, shape, byteLength: 0 });
const program = (ops: Op[], maxRows = 4): Program => ({ label: 'p', maxRows, ops, outputs: [] });

describe('validateProgram', () => {
  it('accepts a consistent matmul and rejects mismatched widths with a message naming the weight', () => {
    const x = buf(4, 8);
    const out = buf(4, 3);
    expect(() => validateProgram(program([{ kind: 'matmul', x, weight: w([3, 8]), out }]), caps)).not.toThrow();
    const bad = () => validateProgram(program([{ kind: 'matmul', x, weight: w([3, 7]), out }]), caps);
    expect(bad).toThrow(InvalidProgramError);
    expect(bad).toThrow(/expects 7/);
  });

  it('requires buffers with enough rows, except for ops with a fixed row count', () => {
    const small = buf(1, 8);
    const out = buf(1, 8);
    const op: Op = { kind: 'rmsnorm', x: small, weight: w([8]), eps: 1e-5, out };
    expect(() => validateProgram(program([op]), caps)).toThrow(/has 1 rows, the op needs 4/);
    expect(() => validateProgram(program([{ ...op, rows: 1 }]), caps)).not.toThrow();
    expect(() => validateProgram(program([{ ...op, rows: 5 }]), caps)).toThrow(/exceeds the program's maxRows/);
  });

  it('checks SpecEE ops: guarded regions pair up and do not nest, exit_check shapes fit the predictor', () => {
    const exit = buf(1, 2, 'i32');
    const x = buf(4, 8);
    const a = buf(4, 8);
    const add: Op = { kind: 'add', a, b: a, out: a };
    const begin: Op = { kind: 'guard_begin', exit, runIf: 'running' };
    expect(() => validateProgram(program([begin, add, { kind: 'guard_end' }]), caps)).not.toThrow();
    expect(() => validateProgram(program([begin, begin, { kind: 'guard_end' }]), caps)).toThrow(/do not nest/);
    expect(() => validateProgram(program([add, { kind: 'guard_end' }]), caps)).toThrow(/without guard_begin/);
    expect(() => validateProgram(program([begin, add]), caps)).toThrow(/has no guard_end/);
    expect(() => validateProgram(program([{ kind: 'guard_begin', exit, runIf: 'exited_before' }, { kind: 'guard_end' }]), caps)).toThrow(/needs a layer/);
    const check = (k: number, upCols: number): Op => ({
      kind: 'exit_check',
      x,
      norm: w([8]),
      eps: 1e-5,
      lmHead: w([10, 8]),
      drafts: buf(1, k, 'i32'),
      probs: buf(1, k),
      active: buf(1, 3, 'i32'),
      up: w([16, upCols]),
      upBias: w([16]),
      down: w([1, 16]),
      downBias: w([1]),
      threshold: 0.5,
      layer: 1,
      logits: buf(1, 10),
      exit,
    });
    expect(() => validateProgram(program([check(4, 12)]), caps)).not.toThrow();
    expect(() => validateProgram(program([check(4, 9)]), caps)).toThrow(/up must be \[hidden, 12\]/);
    expect(() => validateProgram(program([{ ...check(4, 12), layer: 3 } as Op]), caps)).toThrow(/active has 3 entries/);
    expect(() => validateProgram(program([{ kind: 'exit_record', exitLayers: buf(16, 2, 'i32'), lastLayer: 2 }]), caps)).toThrow(/exitLayers/);
  });

  it('rejects weight types and ops the backend has no kernel for', () => {
    const op: Op = { kind: 'matmul', x: buf(4, 32), weight: w([2, 32], 'q8_0'), out: buf(4, 2) };
    expect(() => validateProgram(program([op]), caps)).toThrow(UnsupportedOpError);
    expect(() => validateProgram(program([{ kind: 'argmax', x: buf(1, 4), out: buf(1, 1, 'i32') }]), { ...caps, ops: ['matmul'] })).toThrow(
      /kernel 'argmax' is not registered for backend 'test'/,
    );
  });

  it('checks attention head layout and rope dimensions', () => {
    const q = buf(4, 16);
    const kc = buf(32, 8);
    const att: Op = { kind: 'attention', q, kCache: kc, vCache: buf(32, 8), out: buf(4, 16), heads: 4, kvHeads: 2, headDim: 4, scale: 0.5 };
    expect(() => validateProgram(program([att]), caps)).not.toThrow();
    expect(() => validateProgram(program([{ ...att, kvHeads: 3 }]), caps)).toThrow(/not a multiple/);
    const rope: Op = { kind: 'rope', x: q, heads: 4, headDim: 4, ropeDim: 4, style: 'half', invFreq: new Float32Array(2) };
    expect(() => validateProgram(program([rope]), caps)).not.toThrow();
    expect(() => validateProgram(program([{ ...rope, ropeDim: 3, invFreq: new Float32Array(1) }]), caps)).toThrow(/ropeDim/);
    expect(() => validateProgram(program([{ ...rope, invFreq: new Float32Array(3) }]), caps)).toThrow(/invFreq/);
  });

  it('rejects aliasing matmul output and input, and i32/f32 confusion', () => {
    const x = buf(4, 4);
    expect(() => validateProgram(program([{ kind: 'matmul', x, weight: w([4, 4]), out: x }]), caps)).toThrow(/alias/);
    expect(() => validateProgram(program([{ kind: 'embed', table: w([10, 4]), ids: buf(4, 1, 'f32'), out: buf(4, 4) }]), caps)).toThrow(/i32/);
  });
});

describe('validateRunParams', () => {
  it('bounds n and pos', () => {
    expect(() => validateRunParams('p', 4, 4, 0)).not.toThrow();
    expect(() => validateRunParams('p', 4, 5, 0)).toThrow(InvalidProgramError);
    expect(() => validateRunParams('p', 4, 0, 0)).toThrow(InvalidProgramError);
    expect(() => validateRunParams('p', 4, 1, -1)).toThrow(InvalidProgramError);
    expect(() => validateRunParams('p', 4, 1.5, 0)).toThrow(InvalidProgramError);
  });
});
