/**
 * Error behaviour: every misuse surfaces as a typed BitexitError subclass with
 * a stable code (never a TypeError/RangeError from deep inside a kernel).
 */
import { WEIGHT_DTYPES, isBitexitError, type HostTensor, type WeightDType } from '@bitexit/format';
import type { Backend, Program } from '@bitexit/backend';
import type { Register, TestEnv } from '../context.js';
import { Harness } from '../harness.js';
import { Rng } from '../random.js';
import { encodeWeight } from '../weights.js';

/** Runs `fn`; it must throw (or reject) with a BitexitError, of `code` when given. */
async function expectTyped(what: string, fn: () => unknown, code?: string): Promise<Error> {
  let error: unknown;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`${what}: no error was thrown`);
  if (!isBitexitError(error)) {
    const e = error as Error;
    throw new Error(`${what}: threw ${e?.constructor?.name ?? typeof e} (${e?.message ?? String(e)}), expected a BitexitError${code ? ` with code ${code}` : ''}`);
  }
  if (code && error.code !== code) throw new Error(`${what}: threw ${error.name} [${error.code}] "${error.message}", expected code ${code}`);
  if (!error.message || error.message.includes('undefined')) throw new Error(`${what}: unhelpful message "${error.message}"`);
  return error;
}

/** Either succeeds or throws a BitexitError: never a raw TypeError/RangeError. */
async function expectNoCrash(what: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!isBitexitError(e)) throw new Error(`${what}: threw ${(e as Error)?.constructor?.name} (${(e as Error)?.message}), expected success or a BitexitError`);
  }
}

async function withHarness(env: TestEnv, fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = new Harness(env.backend, (k) => env.tolerance.op(k));
  try {
    await fn(h);
  } finally {
    h.release();
  }
}

const INVALID_PROGRAM = 'E_INVALID_PROGRAM';
const UNSUPPORTED_OP = 'E_UNSUPPORTED_OP';
const INVALID_HANDLE = 'E_INVALID_HANDLE';

export function defineErrorTests(test: Register): void {
  test('errors/compile/matmul-shape-mismatch', async (env) => {
    await withHarness(env, async (h) => {
      const w = await h.weight('w', 'f32', [5, 8], new Rng(1).f32(40));
      const x = h.buffer('f32', 2, 7, 'x');
      const out = h.buffer('f32', 2, 5, 'out');
      const p: Program = { label: 'bad-matmul', maxRows: 2, ops: [{ kind: 'matmul', x, weight: w, out }], outputs: [{ buffer: out, rows: 'active' }] };
      await expectTyped('compile of matmul with x [2,7] and weight [5,8]', () => env.backend.compile(p), INVALID_PROGRAM);
    });
  });

  test('errors/compile/add-width-mismatch', async (env) => {
    await withHarness(env, async (h) => {
      const a = h.buffer('f32', 2, 4, 'a');
      const b = h.buffer('f32', 2, 5, 'b');
      const p: Program = { label: 'bad-add', maxRows: 2, ops: [{ kind: 'add', a, b, out: a }], outputs: [] };
      await expectTyped('compile of add with widths 4 and 5', () => env.backend.compile(p), INVALID_PROGRAM);
    });
  });

  test('errors/compile/buffer-rows-below-maxRows', async (env) => {
    await withHarness(env, async (h) => {
      const a = h.buffer('f32', 2, 4, 'a');
      const b = h.buffer('f32', 8, 4, 'b');
      const p: Program = { label: 'short-buffer', maxRows: 8, ops: [{ kind: 'add', a: b, b, out: a }], outputs: [] };
      await expectTyped('compile with a 2-row buffer in a maxRows=8 program', () => env.backend.compile(p), INVALID_PROGRAM);
    });
  });

  test('errors/compile/rope-and-attention-geometry', async (env) => {
    await withHarness(env, async (h) => {
      const x = h.buffer('f32', 1, 16, 'x');
      const odd: Program = { label: 'rope-odd', maxRows: 1, ops: [{ kind: 'rope', x, heads: 2, headDim: 8, ropeDim: 5, style: 'adjacent', invFreq: new Float32Array(2) }], outputs: [] };
      await expectTyped('compile of rope with ropeDim 5', () => env.backend.compile(odd), INVALID_PROGRAM);
      const wide: Program = { label: 'rope-cols', maxRows: 1, ops: [{ kind: 'rope', x, heads: 3, headDim: 8, ropeDim: 8, style: 'half', invFreq: new Float32Array(4) }], outputs: [] };
      await expectTyped('compile of rope with heads*headDim != cols', () => env.backend.compile(wide), INVALID_PROGRAM);
      const kc = h.buffer('f32', 4, 8, 'kc');
      const att: Program = {
        label: 'gqa-bad',
        maxRows: 1,
        ops: [{ kind: 'attention', q: x, kCache: kc, vCache: kc, out: h.buffer('f32', 1, 16, 'o'), heads: 2, kvHeads: 3, headDim: 8, scale: 1 }],
        outputs: [],
      };
      await expectTyped('compile of attention with heads 2, kvHeads 3', () => env.backend.compile(att), INVALID_PROGRAM);
    });
  });

  test('errors/compile/bad-fixed-rows', async (env) => {
    await withHarness(env, async (h) => {
      const a = h.buffer('f32', 4, 3, 'a');
      const one = h.buffer('f32', 1, 3, 'one');
      for (const rows of [0, 5, 1.5]) {
        const p: Program = { label: `rows-${rows}`, maxRows: 4, ops: [{ kind: 'add', a, b: a, out: a, rows }], outputs: [] };
        await expectTyped(`compile of add with rows ${rows} (maxRows 4)`, () => env.backend.compile(p), INVALID_PROGRAM);
      }
      const p: Program = { label: 'rows-2-of-1', maxRows: 4, ops: [{ kind: 'add', a: one, b: one, out: one, rows: 2 }], outputs: [] };
      await expectTyped('compile of add with rows 2 on 1-row buffers', () => env.backend.compile(p), INVALID_PROGRAM);
    });
  });

  test('errors/compile/output-rows-out-of-range', async (env) => {
    await withHarness(env, async (h) => {
      const a = h.buffer('f32', 2, 4, 'a');
      const p: Program = { label: 'bad-output', maxRows: 2, ops: [{ kind: 'add', a, b: a, out: a }], outputs: [{ buffer: a, rows: 3 }] };
      await expectTyped('compile reading 3 rows of a 2-row buffer', () => env.backend.compile(p), INVALID_PROGRAM);
    });
  });

  test('errors/unsupported-weight-dtype', async (env) => {
    await withHarness(env, async (h) => {
      const fake = { name: 'w', dtype: 'q4_k' as WeightDType, shape: [1, 256], data: new Uint8Array(144) } satisfies HostTensor;
      await expectTyped('uploadWeight of a q4_k tensor', () => env.backend.uploadWeight(fake), UNSUPPORTED_OP);
      // A real storage type the backend does not list must be refused too (at upload or at compile).
      const missing = WEIGHT_DTYPES.find((d) => !env.backend.capabilities.weightDTypes.includes(d));
      if (missing) {
        const host = encodeWeight('w', missing, [2, 32], new Rng(2).f32(64));
        await expectTyped(`upload + compile of a ${missing} matmul`, async () => {
          const w = await env.backend.uploadWeight(host);
          try {
            const x = h.buffer('f32', 1, 32, 'x');
            const out = h.buffer('f32', 1, 2, 'out');
            env.backend.compile({ label: 'unsupported', maxRows: 1, ops: [{ kind: 'matmul', x, weight: w, out }], outputs: [] });
          } finally {
            env.backend.release(w);
          }
        }, UNSUPPORTED_OP);
      }
    });
  });

  test('errors/upload/malformed-host-tensor', async (env) => {
    const short = { name: 'short', dtype: 'f32', shape: [4, 4], data: new Uint8Array(60) } satisfies HostTensor;
    await expectTyped('uploadWeight with 60 bytes for f32 [4,4]', () => env.backend.uploadWeight(short));
    const q8 = { name: 'q8-odd', dtype: 'q8_0', shape: [2, 20], data: new Uint8Array(40) } satisfies HostTensor;
    if (env.backend.capabilities.weightDTypes.includes('q8_0')) {
      await expectTyped('uploadWeight of q8_0 with rows of 20', () => env.backend.uploadWeight(q8));
    }
  });

  test('errors/run/n-outside-1-to-maxRows', async (env) => {
    await withHarness(env, async (h) => {
      const a = h.buffer('f32', 4, 3, 'a');
      const p: Program = { label: 'n-check', maxRows: 4, ops: [{ kind: 'add', a, b: a, out: a }], outputs: [{ buffer: a, rows: 'active' }] };
      const c = h.compile(p);
      await expectTyped('run with n=0', () => env.backend.run(c, { pos: 0, n: 0 }), INVALID_PROGRAM);
      await expectTyped('run with n=5 > maxRows 4', () => env.backend.run(c, { pos: 0, n: 5 }), INVALID_PROGRAM);
      await expectTyped('run with n=1.5', () => env.backend.run(c, { pos: 0, n: 1.5 }), INVALID_PROGRAM);
      await expectTyped('run with pos=-1', () => env.backend.run(c, { pos: -1, n: 1 }), INVALID_PROGRAM);
      // Still usable afterwards.
      const [out] = await env.backend.run(c, { pos: 0, n: 2 });
      if (out.length !== 6) throw new Error(`after refused runs, a good run returned ${out.length} values`);
    });
  });

  test('errors/run/kv-store-past-cache-end', async (env) => {
    await withHarness(env, async (h) => {
      const k = h.buffer('f32', 2, 4, 'k');
      const cache = h.buffer('f32', 6, 4, 'cache');
      const p: Program = { label: 'kv-overflow', maxRows: 2, ops: [{ kind: 'kv_store', k, v: k, kCache: cache, vCache: cache }], outputs: [] };
      const c = h.compile(p);
      await expectTyped('kv_store of rows 5..6 into a 6-row cache', () => env.backend.run(c, { pos: 5, n: 2 }));
      await expectTyped('kv_store at pos 100 into a 6-row cache', () => env.backend.run(c, { pos: 100, n: 1 }));
    });
  });

  test('errors/run/sample-without-sampling-params', async (env) => {
    await withHarness(env, async (h) => {
      const logits = h.buffer('f32', 1, 8, 'logits');
      const hist = h.buffer('i32', 1, 4, 'hist');
      const out = h.buffer('i32', 1, 1, 'out');
      const c = h.compile({ label: 'sample', maxRows: 1, ops: [{ kind: 'sample', logits, history: hist, out }], outputs: [{ buffer: out, rows: 1 }] });
      await expectTyped('run of a sample op without sampling params', () => env.backend.run(c, { pos: 0, n: 1 }));
    });
  });

  test('errors/run/embed-id-out-of-range-never-crashes', async (env) => {
    await withHarness(env, async (h) => {
      const table = await h.weight('t', 'f32', [4, 3], new Rng(3).f32(12));
      const ids = h.buffer('i32', 1, 1, 'ids');
      const out = h.buffer('f32', 1, 3, 'out');
      const c = h.compile({ label: 'embed-oob', maxRows: 1, ops: [{ kind: 'embed', table, ids, out }], outputs: [{ buffer: out, rows: 1 }] });
      for (const bad of [4, -1, 1 << 30]) {
        await expectNoCrash(`embed of id ${bad} with vocab 4`, () => env.backend.run(c, { pos: 0, n: 1, inputs: [{ buffer: ids, data: Int32Array.of(bad) }] }));
      }
    });
  });

  test('errors/buffers/bad-shape-and-overflowing-write', async (env) => {
    await expectTyped('createBuffer [-1, 4]', () => env.backend.createBuffer('f32', [-1, 4], 'neg'));
    await expectTyped('createBuffer [2.5, 3]', () => env.backend.createBuffer('f32', [2.5, 3], 'frac'));
    await withHarness(env, async (h) => {
      const b = h.buffer('f32', 2, 3, 'b');
      await expectTyped('writeBuffer of 7 values into 6', () => env.backend.writeBuffer(b, new Float32Array(7)));
      await expectTyped('writeBuffer of 2 values at offset 5 of 6', () => env.backend.writeBuffer(b, new Float32Array(2), 5));
      await expectTyped('writeBuffer at offset -1', () => env.backend.writeBuffer(b, new Float32Array(1), -1));
    });
  });

  test('errors/handles/released-resources', async (env) => {
    const b = env.backend.createBuffer('f32', [2, 3], 'released');
    env.backend.release(b);
    await expectTyped('readBuffer of a released buffer', () => env.backend.readBuffer(b), INVALID_HANDLE);
    await expectTyped('writeBuffer to a released buffer', () => env.backend.writeBuffer(b, new Float32Array(6)), INVALID_HANDLE);
    await expectNoCrash('second release of a buffer', () => env.backend.release(b));

    const w = await env.backend.uploadWeight(encodeWeight('w', 'f32', [3, 3], new Rng(4).f32(9)));
    const x = env.backend.createBuffer('f32', [1, 3], 'x');
    const out = env.backend.createBuffer('f32', [1, 3], 'out');
    try {
      const p: Program = { label: 'released', maxRows: 1, ops: [{ kind: 'matmul', x, weight: w, out }], outputs: [{ buffer: out, rows: 1 }] };
      const c = env.backend.compile(p);
      env.backend.release(c);
      await expectTyped('run of a released program', () => env.backend.run(c, { pos: 0, n: 1 }), INVALID_HANDLE);
      env.backend.release(w);
      await expectTyped('compile with a released weight', () => env.backend.compile(p), INVALID_HANDLE);
    } finally {
      env.backend.release(x);
      env.backend.release(out);
    }
  });

  test('errors/handles/foreign-backend-instance', async (env) => {
    const other: Backend = await env.state.provider.create(env.state.createOptions);
    try {
      const foreign = other.createBuffer('f32', [2, 3], 'foreign');
      await expectTyped('readBuffer of another instance\'s buffer', () => env.backend.readBuffer(foreign), INVALID_HANDLE);
      await withHarness(env, async (h) => {
        const a = h.buffer('f32', 2, 3, 'a');
        const p: Program = { label: 'foreign', maxRows: 2, ops: [{ kind: 'add', a, b: foreign, out: a }], outputs: [] };
        await expectTyped('compile with another instance\'s buffer', () => env.backend.compile(p), INVALID_HANDLE);
      });
    } finally {
      await other.dispose();
    }
    await expectTyped('createBuffer on a disposed backend', () => other.createBuffer('f32', [1, 1], 'late'));
  });
}
