/**
 * Whole-model checks through the engine runtime (loadModel / generate / logits):
 * (a) greedy generations of stories260K (GGUF and llama2.c checkpoint) equal
 *     the golden ids produced by llama2.c and llama.cpp;
 * (b) teacher-forced logits along golden prompt 0 match llama2.c's logits;
 * (c) a backend other than 'cpu' equals the CPU reference backend (greedy ids
 *     and logits), CPU loaded with a dynamic import so no package cycle exists;
 * (d) TinyStories-656K (Hugging Face layout) greedily writes English.
 * Each check skips with a printed reason when the engine, a fixture or the CPU
 * backend is not available.
 */
import { afterAll, beforeAll } from 'vitest';
import type { Backend } from '@bitexit/backend';
import type { Model } from '@bitexit/engine';
import type { Register, SuiteState, TestEnv } from './context.js';

type EngineModule = typeof import('@bitexit/engine');

interface Golden {
  prompt: string;
  prompt_ids: number[];
  generated_ids: number[];
}

type ModelKey = 'gguf' | 'llama2c' | 'hf';

const GOLDEN_PROMPTS = [0, 1, 4] as const;
const LOGIT_POSITIONS = 64;
const STORIES_VOCAB = 512;

interface Fixtures {
  gguf: string | null;
  bin: string | null;
  tok: string | null;
  hf: string | null;
  golden: Map<number, Golden>;
  logits: Float32Array | null;
}

interface ModelState {
  engine: EngineModule | null;
  engineReason: string;
  fixtures: Fixtures | null;
  fixturesReason: string;
  models: Map<string, Promise<Model>>;
  cpu: Promise<Backend | string> | null;
}

const tag = (state: SuiteState) => `[conformance:${state.provider.name}]`;

/** Variable specifier: the CPU backend is not a dependency of this package (it depends on us). */
const CPU_PACKAGE = '@bitexit/backend-cpu';

function skipWith(env: TestEnv, state: SuiteState, reason: string): never {
  console.warn(`${tag(state)} ${reason}`);
  return env.ctx.skip(reason);
}

export function defineModelChecks(test: Register, state: SuiteState): void {
  const ms: ModelState = { engine: null, engineReason: '', fixtures: null, fixturesReason: '', models: new Map(), cpu: null };

  beforeAll(async () => {
    if (state.unavailable !== null) return;
    try {
      const engine = (await import('@bitexit/engine')) as EngineModule;
      if (typeof engine.loadModel !== 'function') ms.engineReason = '@bitexit/engine does not export loadModel yet';
      else ms.engine = engine;
    } catch (e) {
      ms.engineReason = `@bitexit/engine cannot be imported: ${(e as Error).message}`;
    }
    try {
      ms.fixtures = await loadFixtures();
      if (!ms.fixtures) ms.fixturesReason = 'fixtures folder not found (set BITEXIT_FIXTURES)';
    } catch (e) {
      ms.fixturesReason = `fixtures unreadable here: ${(e as Error).message}`;
    }
  });

  afterAll(async () => {
    for (const p of ms.models.values()) await p.then((m) => m.dispose()).catch(() => {});
    ms.models.clear();
    if (ms.cpu) {
      const cpu = await ms.cpu;
      if (typeof cpu !== 'string') await cpu.dispose();
    }
  });

  /** The engine and fixtures, or a skip with the reason. */
  const need = (env: TestEnv, what: (keyof Fixtures)[]): { engine: EngineModule; fx: Fixtures } => {
    if (!ms.engine) skipWith(env, state, `whole-model check skipped: ${ms.engineReason}`);
    if (!ms.fixtures) skipWith(env, state, `whole-model check skipped: ${ms.fixturesReason}`);
    for (const k of what) {
      const v = ms.fixtures[k];
      if (v === null || (v instanceof Map && v.size < GOLDEN_PROMPTS.length)) skipWith(env, state, `whole-model check skipped: fixture '${k}' missing`);
    }
    return { engine: ms.engine, fx: ms.fixtures };
  };

  const load = (engine: EngineModule, fx: Fixtures, key: ModelKey, backend: Backend, side: string): Promise<Model> => {
    const id = `${side}:${key}`;
    let p = ms.models.get(id);
    if (!p) {
      p =
        key === 'gguf'
          ? engine.loadModel(fx.gguf!, { backend })
          : key === 'llama2c'
            ? engine.loadModel(fx.bin!, { backend, tokenizerPath: fx.tok! })
            : engine.loadModel(fx.hf!, { backend });
      ms.models.set(id, p);
    }
    return p;
  };

  const cpuBackend = async (env: TestEnv): Promise<Backend> => {
    if (env.backend.capabilities.name === 'cpu') skipWith(env, state, 'CPU comparison skipped: the backend under test is the CPU reference itself');
    ms.cpu ??= (async () => {
      try {
        if (state.cpuReference) return await state.cpuReference();
        const mod = (await import(/* @vite-ignore */ CPU_PACKAGE)) as { createCpuBackend?: () => Promise<Backend> };
        if (typeof mod.createCpuBackend !== 'function') return `${CPU_PACKAGE} does not export createCpuBackend`;
        return await mod.createCpuBackend();
      } catch (e) {
        return `${CPU_PACKAGE} cannot be imported: ${(e as Error).message}`;
      }
    })();
    const cpu = await ms.cpu;
    if (typeof cpu === 'string') skipWith(env, state, `CPU comparison skipped: ${cpu}`);
    return cpu;
  };

  const greedy = async (model: Model, prompt: string, maxTokens: number) =>
    model.generate(prompt, { temperature: 0, maxTokens }).result;

  // (a) golden greedy generations, from both file formats.
  for (const key of ['gguf', 'llama2c'] as const) {
    const files: (keyof Fixtures)[] = key === 'gguf' ? ['gguf', 'golden'] : ['bin', 'tok', 'golden'];
    for (const n of GOLDEN_PROMPTS) {
      test(`model/stories260K/${key}/greedy-golden-prompt${n}`, async (env) => {
        const { engine, fx } = need(env, files);
        const g = fx.golden.get(n)!;
        const model = await load(engine, fx, key, env.backend, 'test');
        const r = await greedy(model, g.prompt, g.generated_ids.length);
        sameIds(`prompt ${JSON.stringify(g.prompt)}: prompt token ids`, r.promptTokens, g.prompt_ids);
        sameIds(`prompt ${JSON.stringify(g.prompt)}: generated ids`, r.tokens, g.generated_ids);
      });
    }
  }

  // (b) logits along golden prompt 0 (position p = logits after ids[0..p]).
  for (const key of ['gguf', 'llama2c'] as const) {
    test(`model/stories260K/${key}/logits-golden-prompt0`, async (env) => {
      const { engine, fx } = need(env, key === 'gguf' ? ['gguf', 'golden', 'logits'] : ['bin', 'tok', 'golden', 'logits']);
      const g = fx.golden.get(0)!;
      const ids = [...g.prompt_ids, ...g.generated_ids].slice(0, LOGIT_POSITIONS);
      const model = await load(engine, fx, key, env.backend, 'test');
      const rows = await model.logits(ids);
      const want = fx.logits!;
      const limit = env.tolerance.logitsMaxAbs;
      const worst = maxAbsRows(rows, (p) => want.subarray(p * STORIES_VOCAB, (p + 1) * STORIES_VOCAB), LOGIT_POSITIONS, STORIES_VOCAB);
      if (!(worst.diff <= limit)) {
        throw new Error(`logits differ from llama2.c by ${worst.diff.toExponential(3)} (limit ${limit}) at position ${worst.row}, token ${worst.col}`);
      }
    });
  }

  test('model/stories260K/gguf/dispose-returns-device-memory', async (env) => {
    const { engine, fx } = need(env, ['gguf']);
    const before = env.backend.memoryInUse();
    const model = await engine.loadModel(fx.gguf!, { backend: env.backend });
    const during = env.backend.memoryInUse();
    await model.dispose();
    const after = env.backend.memoryInUse();
    if (!(during > before)) throw new Error(`memoryInUse did not grow while the model was loaded (${before} -> ${during})`);
    if (after !== before) throw new Error(`memoryInUse ${before} before loading, ${after} after dispose`);
  });

  // (c) the backend under test against the CPU reference.
  test('model/cpu-reference/stories260K-greedy-and-logits', async (env) => {
    const { engine, fx } = need(env, ['gguf', 'golden']);
    const cpu = await cpuBackend(env);
    const mine = await load(engine, fx, 'gguf', env.backend, 'test');
    const ref = await load(engine, fx, 'gguf', cpu, 'cpu');
    for (const n of GOLDEN_PROMPTS) {
      const g = fx.golden.get(n)!;
      const [a, b] = [await greedy(mine, g.prompt, 64), await greedy(ref, g.prompt, 64)];
      sameIds(`prompt ${JSON.stringify(g.prompt)}: generated ids vs CPU`, a.tokens, b.tokens);
    }
    const g = fx.golden.get(0)!;
    const ids = [...g.prompt_ids, ...g.generated_ids].slice(0, LOGIT_POSITIONS);
    const [a, b] = [await mine.logits(ids), await ref.logits(ids)];
    const worst = maxAbsRows(a, (p) => b[p], ids.length, STORIES_VOCAB);
    const limit = env.tolerance.logitsMaxAbs;
    if (!(worst.diff <= limit)) throw new Error(`logits differ from the CPU backend by ${worst.diff.toExponential(3)} (limit ${limit}) at position ${worst.row}, token ${worst.col}`);
  });

  test('model/cpu-reference/tinystories-656k-greedy32', async (env) => {
    const { engine, fx } = need(env, ['hf']);
    const cpu = await cpuBackend(env);
    const [a, b] = [
      await greedy(await load(engine, fx, 'hf', env.backend, 'test'), 'Once upon a time', 32),
      await greedy(await load(engine, fx, 'hf', cpu, 'cpu'), 'Once upon a time', 32),
    ];
    sameIds('TinyStories-656K greedy ids vs CPU', a.tokens, b.tokens);
  });

  // (d) TinyStories-656K writes English: letters, spaces and punctuation, common words, no replacement characters.
  test('model/tinystories-656k/greedy32-is-english', async (env) => {
    const { engine, fx } = need(env, ['hf']);
    const model = await load(engine, fx, 'hf', env.backend, 'test');
    const r = await greedy(model, 'Once upon a time', 32);
    const problem = englishProblem(r.text);
    if (r.tokens.length < 8) throw new Error(`only ${r.tokens.length} tokens generated: ${JSON.stringify(r.text)}`);
    if (problem) throw new Error(`TinyStories-656K greedy text is not plain English (${problem}): ${JSON.stringify(r.text)}`);
  });
}

/** Why `text` does not look like English prose, or null. */
export function englishProblem(text: string): string | null {
  if (text.includes('\uFFFD')) return 'contains U+FFFD';
  const chars = [...text];
  if (chars.length < 20) return `only ${chars.length} characters`;
  const plain = chars.filter((c) => /[A-Za-z ]/.test(c)).length;
  if (plain / chars.length < 0.85) return `only ${Math.round((100 * plain) / chars.length)}% letters and spaces`;
  if (/[^A-Za-z0-9 \n.,!?'"\-:;]/.test(text)) return `unexpected character ${JSON.stringify(text.match(/[^A-Za-z0-9 \n.,!?'"\-:;]/)![0])}`;
  const common = new Set(['the', 'a', 'and', 'was', 'to', 'he', 'she', 'it', 'they', 'in', 'of', 'her', 'his', 'day', 'there', 'with', 'had', 'upon', 'time', 'little', 'named']);
  const words = text.toLowerCase().split(/[^a-z]+/).filter(Boolean);
  const hits = words.filter((w) => common.has(w)).length;
  if (hits < 3) return `only ${hits} common English words among ${words.length}`;
  if (words.some((w) => w.length > 20)) return 'a word longer than 20 letters';
  return null;
}

function sameIds(what: string, got: readonly number[], want: readonly number[]): void {
  const n = Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) {
      throw new Error(`${what}: first difference at index ${i}: got ${got[i]}, expected ${want[i]} (got ${got.length} ids, expected ${want.length})`);
    }
  }
}

function maxAbsRows(rows: ArrayLike<number>[], want: (row: number) => ArrayLike<number>, count: number, cols: number) {
  if (rows.length !== count) throw new Error(`got ${rows.length} logit rows, expected ${count}`);
  let worst = { diff: 0, row: -1, col: -1 };
  for (let p = 0; p < count; p++) {
    const a = rows[p];
    const b = want(p);
    if (a.length !== cols) throw new Error(`logit row ${p} has ${a.length} values, expected ${cols}`);
    for (let c = 0; c < cols; c++) {
      const d = Math.abs(a[c] - b[c]);
      if (!(d <= worst.diff)) worst = { diff: Number.isNaN(d) ? Infinity : d, row: p, col: c };
    }
  }
  return worst;
}

/** Fixture paths and golden data (Node only: imported lazily so the suite itself stays importable anywhere). */
async function loadFixtures(): Promise<Fixtures | null> {
  const { fixturesDir } = await import('@bitexit/format/node');
  const { readFile } = await import('node:fs/promises');
  const { existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const dir = fixturesDir();
  if (!dir) return null;
  const at = (rel: string) => {
    const p = join(dir, rel);
    return existsSync(p) ? p : null;
  };
  const golden = new Map<number, Golden>();
  for (const n of GOLDEN_PROMPTS) {
    const p = at(`golden/stories260K-greedy-${n}.json`);
    if (p) golden.set(n, JSON.parse(await readFile(p, 'utf8')) as Golden);
  }
  const lp = at('golden/stories260K-logits-prompt0.f32');
  let logits: Float32Array | null = null;
  if (lp) {
    const bytes = await readFile(lp);
    if (bytes.byteLength === LOGIT_POSITIONS * STORIES_VOCAB * 4) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      logits = Float32Array.from({ length: LOGIT_POSITIONS * STORIES_VOCAB }, (_, i) => dv.getFloat32(i * 4, true));
    }
  }
  const hf = at('tinystories-656k/config.json') && at('tinystories-656k/model.safetensors') ? join(dir, 'tinystories-656k') : null;
  return {
    gguf: at('stories260K/stories260K.gguf'),
    bin: at('stories260K/stories260K.bin'),
    tok: at('stories260K/tok512.bin'),
    hf,
    golden,
    logits,
  };
}
