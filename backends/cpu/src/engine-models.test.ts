// Whole-model checks of the engine's loaders on the CPU backend, beyond the
// fixtures' own formats: GGUF F16/BF16/Q8_0 files, Hugging Face F16/BF16
// checkpoints, Qwen2 (q/k/v biases), Mistral, Llama-3 rope_scaling, tied and
// untied heads, and the HF → GGUF round trip. The synthetic checkpoints reuse
// TinyStories-656K's trained weights under other configs; their logits are
// checked against an independent float64 forward pass written from the
// Hugging Face (PyTorch) definitions, and the HF-loaded model must give the
// same greedy tokens as its GGUF conversion.
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToF32, encodeBf16, encodeF16, encodeF32, encodeSafetensors, readSafetensors } from '@bitexit/format';
import { fixturePath, openFileSource } from '@bitexit/format/node';
import { convertModelFile, loadModel, nodeModelDirectory, openGgufModel, openHuggingFaceModel, type LoadProgress, type Model } from '@bitexit/engine';
import type { ByteSource } from '@bitexit/format';
import { createCpuBackend } from './index.js';

const STORIES = fixturePath('stories260K/stories260K.gguf');
const HF = fixturePath('tinystories-656k/model.safetensors') ? fixturePath('tinystories-656k') : null;

let tmp = '';
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'bitexit-engine-models-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function load(path: string, contextLength = 256): Promise<Model> {
  return loadModel(path, { backend: await createCpuBackend(), contextLength });
}

async function greedy(path: string, prompt: string | number[], maxTokens: number): Promise<number[]> {
  const m = await load(path);
  try {
    return (await m.generate(prompt, { temperature: 0, maxTokens }).result).tokens;
  } finally {
    await m.dispose();
  }
}

async function logitsOf(path: string, ids: number[]): Promise<Float32Array[]> {
  const m = await load(path);
  try {
    return await m.logits(ids);
  } finally {
    await m.dispose();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

describe.skipIf(!STORIES)('GGUF F16 / BF16 / Q8_0 files load and generate end to end', () => {
  const PROMPT = 'Once upon a time';
  let base: number[] = [];
  let baseLogits: Float32Array[] = [];
  const ids = [1, 403, 407, 261, 378, 432, 383, 118];

  beforeAll(async () => {
    base = await greedy(STORIES!, PROMPT, 48);
    baseLogits = await logitsOf(STORIES!, ids);
  });

  it.each([
    ['f16', 0.05],
    ['bf16', 0.2], // measured: f16 0.011, bf16 0.067, q8_0 0.21 (logits span about ±15)
    ['q8_0', 0.4],
  ] as ['f16' | 'bf16' | 'q8_0', number][])('%s: same greedy tokens as F32, logits within %f', async (dtype, tol) => {
    const out = join(tmp, `stories260K-${dtype}.gguf`);
    const res = await convertModelFile(STORIES!, out, { dtype });
    // The matrices really are stored in the requested type (q8_0 keeps f16 for rows not a multiple of 32).
    expect(res.dtypes[dtype]).toBeGreaterThan(30);
    expect(await greedy(out, PROMPT, 48)).toEqual(base);
    const lg = await logitsOf(out, ids);
    let worst = 0;
    for (let i = 0; i < ids.length; i++) worst = Math.max(worst, maxAbsDiff(lg[i]!, baseLogits[i]!));
    expect(worst).toBeGreaterThan(0); // it is a different file, not the F32 one
    expect(worst).toBeLessThan(tol);
  });
});

/** Wraps a source to record every read. */
function counting(src: ByteSource, log: { reads: number[]; bytes: number }): ByteSource {
  return {
    name: src.name,
    size: src.size,
    read: async (offset, length) => {
      log.reads.push(length);
      log.bytes += length;
      return src.read(offset, length);
    },
    close: () => src.close?.() ?? Promise.resolve(),
  };
}

describe('big files: weights are read by range, once, with progress', () => {
  function checkProgress(events: LoadProgress[], weightBytes: number): void {
    expect(events[0]!.phase).toBe('open');
    expect(events.at(-1)!.phase).toBe('ready');
    expect(events.filter((e) => e.phase === 'upload').length).toBeGreaterThan(10);
    for (let i = 1; i < events.length; i++) expect(events[i]!.loadedBytes).toBeGreaterThanOrEqual(events[i - 1]!.loadedBytes);
    expect(events.at(-1)!.loadedBytes).toBe(weightBytes);
    expect(events.every((e) => e.totalBytes === weightBytes)).toBe(true);
  }

  it.skipIf(!STORIES)('GGUF: no read is larger than the largest tensor; the file is read about once', async () => {
    const log = { reads: [] as number[], bytes: 0 };
    const src = counting(await openFileSource(STORIES!), log);
    const source = await openGgufModel(src, { path: STORIES! });
    const largest = Math.max(...[...source.tensors.values()].map((t) => t.byteLength));
    const events: LoadProgress[] = [];
    const m = await loadModel(source, { backend: await createCpuBackend(), contextLength: 64, onProgress: (p) => events.push({ ...p }) });
    await m.dispose();
    // The header is parsed through a 1 MiB read-ahead window; tensors are read one range each.
    const HEADER_WINDOW = 1 << 20;
    expect(Math.max(...log.reads)).toBeLessThanOrEqual(Math.max(largest, HEADER_WINDOW));
    // Every weight byte is read once; everything else read is the header window.
    expect(log.bytes - source.weightBytes).toBeGreaterThanOrEqual(0);
    expect(log.bytes - source.weightBytes).toBeLessThanOrEqual(HEADER_WINDOW);
    checkProgress(events, source.weightBytes);
  });

  it.skipIf(!HF)('Hugging Face safetensors: the same', async () => {
    const log = { reads: [] as number[], bytes: 0 };
    const dir = await nodeModelDirectory(HF!);
    let size = 0;
    const source = await openHuggingFaceModel({
      ...dir,
      open: async (file) => {
        const s = await dir.open(file);
        size += s.size;
        return counting(s, log);
      },
    });
    const largest = Math.max(...[...source.tensors.values()].map((t) => t.byteLength));
    const events: LoadProgress[] = [];
    const m = await loadModel(source, { backend: await createCpuBackend(), contextLength: 64, onProgress: (p) => events.push({ ...p }) });
    await m.dispose();
    expect(Math.max(...log.reads)).toBeLessThanOrEqual(largest);
    // Every weight byte is read once, plus the small JSON header.
    expect(log.bytes - source.weightBytes).toBeGreaterThanOrEqual(0);
    expect(log.bytes - source.weightBytes).toBeLessThan(64 * 1024);
    expect(log.bytes).toBeLessThanOrEqual(size);
    checkProgress(events, source.weightBytes);
  });
});

// ---- Hugging Face checkpoints built from TinyStories-656K's weights ----

/** Deterministic values in [-scale, scale). */
function rand(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (((s >>> 0) / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

const ENCODE: Record<string, (v: Float32Array) => Uint8Array> = { F32: encodeF32, F16: encodeF16, BF16: encodeBf16 };

/** Values as the loader will see them after storage in `dtype`. */
function stored(v: Float32Array, dtype: string): Float32Array {
  if (dtype === 'F32') return v;
  return decodeToF32({ name: 'x', dtype: dtype === 'F16' ? 'f16' : 'bf16', shape: [v.length], data: ENCODE[dtype]!(v) });
}

interface Variant {
  architecture: string;
  dtype: 'F32' | 'F16' | 'BF16';
  /** Store only embed_tokens (tied) or both embed_tokens and a separate random lm_head. */
  tied: boolean;
  bias: boolean;
  config?: Record<string, unknown>;
}

interface RefConfig {
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  eps: number;
  invFreq: Float64Array;
}

/** Hugging Face's _compute_default_rope_parameters / _compute_llama3_parameters, in float64. */
function hfInvFreq(headDim: number, theta: number, scaling: Record<string, number> | null): Float64Array {
  const f = new Float64Array(headDim / 2);
  for (let i = 0; i < f.length; i++) f[i] = 1 / theta ** ((2 * i) / headDim);
  if (!scaling) return f;
  const { factor, low_freq_factor: lo, high_freq_factor: hi, original_max_position_embeddings: orig } = scaling as Record<string, number>;
  const lowWavelen = orig! / lo!;
  const highWavelen = orig! / hi!;
  for (let i = 0; i < f.length; i++) {
    const wavelen = (2 * Math.PI) / f[i]!;
    if (wavelen > lowWavelen) f[i] = f[i]! / factor!;
    else if (wavelen >= highWavelen) {
      const smooth = (orig! / wavelen - lo!) / (hi! - lo!);
      f[i] = (1 - smooth) * (f[i]! / factor!) + smooth * f[i]!;
    }
  }
  return f;
}

/** The Hugging Face Llama/Mistral/Qwen2 forward in float64: logits after every position. */
function referenceForward(c: RefConfig, w: Map<string, Float32Array>, ids: number[]): Float64Array[] {
  const hd = c.dim / c.heads;
  const kvDim = c.kvHeads * hd;
  const get = (n: string) => {
    const x = w.get(n);
    if (!x) throw new Error(`reference: missing ${n}`);
    return x;
  };
  const matvec = (W: Float32Array, x: Float64Array, rows: number, b?: Float32Array) => {
    const cols = x.length;
    const o = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = b ? b[r]! : 0;
      for (let k = 0; k < cols; k++) s += W[r * cols + k]! * x[k]!;
      o[r] = s;
    }
    return o;
  };
  const rms = (x: Float64Array, g: Float32Array) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const inv = 1 / Math.sqrt(ss / x.length + c.eps);
    return x.map((v, i) => v * inv * g[i]!);
  };
  const rope = (x: Float64Array, nh: number, pos: number) => {
    const half = hd / 2;
    for (let h = 0; h < nh; h++) {
      for (let i = 0; i < half; i++) {
        const a = pos * c.invFreq[i]!;
        const x0 = x[h * hd + i]!;
        const x1 = x[h * hd + i + half]!;
        x[h * hd + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
        x[h * hd + i + half] = x1 * Math.cos(a) + x0 * Math.sin(a);
      }
    }
  };
  const emb = get('model.embed_tokens.weight');
  const head = w.get('lm_head.weight') ?? emb;
  const kc: Float64Array[][] = Array.from({ length: c.layers }, () => []);
  const vc: Float64Array[][] = Array.from({ length: c.layers }, () => []);
  const out: Float64Array[] = [];
  ids.forEach((id, pos) => {
    let x = Float64Array.from(emb.subarray(id * c.dim, (id + 1) * c.dim));
    for (let l = 0; l < c.layers; l++) {
      const p = `model.layers.${l}.`;
      const h = rms(x, get(`${p}input_layernorm.weight`));
      const q = matvec(get(`${p}self_attn.q_proj.weight`), h, c.dim, w.get(`${p}self_attn.q_proj.bias`));
      const k = matvec(get(`${p}self_attn.k_proj.weight`), h, kvDim, w.get(`${p}self_attn.k_proj.bias`));
      const v = matvec(get(`${p}self_attn.v_proj.weight`), h, kvDim, w.get(`${p}self_attn.v_proj.bias`));
      rope(q, c.heads, pos);
      rope(k, c.kvHeads, pos);
      kc[l]!.push(k);
      vc[l]!.push(v);
      const att = new Float64Array(c.dim);
      for (let hh = 0; hh < c.heads; hh++) {
        const kvh = Math.floor(hh / (c.heads / c.kvHeads));
        const scores = kc[l]!.map((kk) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[hh * hd + i]! * kk[kvh * hd + i]!;
          return s / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t < e.length; t++) {
          for (let i = 0; i < hd; i++) att[hh * hd + i]! += (e[t]! / z) * vc[l]![t]![kvh * hd + i]!;
        }
      }
      const o = matvec(get(`${p}self_attn.o_proj.weight`), att, c.dim);
      x = x.map((v2, i) => v2 + o[i]!);
      const h2 = rms(x, get(`${p}post_attention_layernorm.weight`));
      const g = matvec(get(`${p}mlp.gate_proj.weight`), h2, c.ffn);
      const u = matvec(get(`${p}mlp.up_proj.weight`), h2, c.ffn);
      const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      const d = matvec(get(`${p}mlp.down_proj.weight`), act, c.dim);
      x = x.map((v2, i) => v2 + d[i]!);
    }
    out.push(matvec(head, rms(x, get('model.norm.weight')), c.vocab));
  });
  return out;
}

describe.skipIf(!HF)('Hugging Face checkpoints: architectures, dtypes, rope scaling, tied heads; HF = GGUF conversion', () => {
  let baseConfig: Record<string, unknown> = {};
  const trained = new Map<string, { shape: number[]; v: Float32Array }>();
  const IDS = [1, 49, 343, 264, 616, 318, 120, 16, 67, 92]; // BOS + some story text ids

  beforeAll(async () => {
    const { readFile } = await import('node:fs/promises');
    baseConfig = JSON.parse(await readFile(join(HF!, 'config.json'), 'utf8')) as Record<string, unknown>;
    const src = await openFileSource(join(HF!, 'model.safetensors'));
    try {
      const st = await readSafetensors(src);
      for (const info of st.tensors) trained.set(info.name, { shape: info.shape, v: decodeToF32(await st.readTensor(info.name)) });
    } finally {
      await src.close?.();
    }
  });

  /** Writes the variant's directory and returns it with the values the reference must use. */
  async function writeVariant(name: string, o: Variant): Promise<{ dir: string; values: Map<string, Float32Array>; ref: RefConfig }> {
    const dim = baseConfig.hidden_size as number;
    const heads = baseConfig.num_attention_heads as number;
    const kvHeads = baseConfig.num_key_value_heads as number;
    const vocab = baseConfig.vocab_size as number;
    const config: Record<string, unknown> = {
      ...baseConfig,
      architectures: [o.architecture],
      model_type: undefined,
      tie_word_embeddings: o.tied,
      torch_dtype: o.dtype === 'F32' ? 'float32' : o.dtype === 'F16' ? 'float16' : 'bfloat16',
      ...o.config,
    };
    const t = new Map<string, { shape: number[]; v: Float32Array }>();
    const lm = trained.get('lm_head.weight') ?? trained.get('model.embed_tokens.weight')!;
    for (const [n, x] of trained) if (n !== 'lm_head.weight') t.set(n, x);
    t.set('model.embed_tokens.weight', lm); // the fixture stores only lm_head (tied)
    if (!o.tied) t.set('lm_head.weight', { shape: lm.shape, v: rand(lm.v.length, 99, 0.1) });
    if (o.bias) {
      const hd = dim / heads;
      for (let l = 0; l < (baseConfig.num_hidden_layers as number); l++) {
        const p = `model.layers.${l}.self_attn.`;
        t.set(`${p}q_proj.bias`, { shape: [heads * hd], v: rand(heads * hd, 10 + l, 0.5) });
        t.set(`${p}k_proj.bias`, { shape: [kvHeads * hd], v: rand(kvHeads * hd, 20 + l, 0.5) });
        t.set(`${p}v_proj.bias`, { shape: [kvHeads * hd], v: rand(kvHeads * hd, 30 + l, 0.5) });
      }
    }
    const dir = join(tmp, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    const entries = [...t].map(([n, x]) => ({ name: n, dtype: o.dtype, shape: x.shape, data: ENCODE[o.dtype]!(x.v) }));
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(entries));
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) await copyFile(join(HF!, f), join(dir, f)).catch(() => undefined);
    const values = new Map<string, Float32Array>();
    for (const [n, x] of t) values.set(n, stored(x.v, o.dtype));
    const rs = config.rope_scaling as Record<string, number> | undefined;
    const ref: RefConfig = {
      dim,
      layers: baseConfig.num_hidden_layers as number,
      heads,
      kvHeads,
      ffn: baseConfig.intermediate_size as number,
      vocab,
      eps: baseConfig.rms_norm_eps as number,
      invFreq: hfInvFreq(dim / heads, (config.rope_theta as number) ?? 10000, rs ?? null),
    };
    return { dir, values, ref };
  }

  const variants: [string, Variant][] = [
    ['qwen2-bias-tied-f32', { architecture: 'Qwen2ForCausalLM', dtype: 'F32', tied: true, bias: true }],
    ['mistral-untied-f16', { architecture: 'MistralForCausalLM', dtype: 'F16', tied: false, bias: false, config: { sliding_window: 4096 } }],
    [
      'llama3-rope-scaling-bf16',
      {
        architecture: 'LlamaForCausalLM',
        dtype: 'BF16',
        tied: true,
        bias: false,
        config: { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } },
      },
    ],
  ];

  it.each(variants)('%s: logits match a float64 Hugging Face forward; greedy tokens equal its GGUF conversion', async (name, o) => {
    const { dir, values, ref } = await writeVariant(name, o);
    const m = await load(dir);
    let got: Float32Array[];
    let tokens: number[];
    try {
      expect(m.info.config.architecture).toBe(o.architecture.replace('ForCausalLM', '').toLowerCase());
      expect(m.info.config.qkvBias).toBe(o.bias);
      expect(m.info.config.tiedEmbeddings).toBe(o.tied);
      expect(m.info.config.ropeScaling?.type ?? null).toBe(o.config?.rope_scaling ? 'llama3' : null);
      got = await m.logits(IDS);
      tokens = (await m.generate('Once upon a time', { temperature: 0, maxTokens: 24 }).result).tokens;
    } finally {
      await m.dispose();
    }
    const want = referenceForward(ref, values, IDS);
    for (let i = 0; i < IDS.length; i++) {
      expect(maxAbsDiff(got[i]!, want[i]!), `position ${i}`).toBeLessThan(2e-4); // measured ~2e-6 (logits up to ~17)
    }
    expect(tokens).toHaveLength(24);

    const gguf = join(tmp, `${name}.gguf`);
    await convertModelFile(dir, gguf);
    expect(await greedy(gguf, 'Once upon a time', 24)).toEqual(tokens);
    const gl = await logitsOf(gguf, IDS);
    for (let i = 0; i < IDS.length; i++) expect(maxAbsDiff(gl[i]!, got[i]!)).toBeLessThan(1e-4);
  });

  it('the reference can tell: biases and rope scaling change the logits', async () => {
    const a = await writeVariant('plain-llama', { architecture: 'LlamaForCausalLM', dtype: 'F32', tied: true, bias: false });
    const b = await writeVariant('plain-qwen2', { architecture: 'Qwen2ForCausalLM', dtype: 'F32', tied: true, bias: true });
    const c = await writeVariant('plain-llama3', { ...variants[2]![1], dtype: 'F32' });
    const la = await logitsOf(a.dir, IDS);
    const lb = await logitsOf(b.dir, IDS);
    const lc = await logitsOf(c.dir, IDS);
    expect(maxAbsDiff(la[3]!, lb[3]!)).toBeGreaterThan(0.05);
    expect(maxAbsDiff(la[0]!, lc[0]!)).toBeLessThan(1e-5); // position 0 does not rotate
    expect(maxAbsDiff(la[6]!, lc[6]!)).toBeGreaterThan(1e-3);
  });

  it('TinyStories-656K: the fixture directory and its GGUF conversion give the same greedy text', async () => {
    const gguf = join(tmp, 'tinystories-656k.gguf');
    await convertModelFile(HF!, gguf);
    for (const prompt of ['Once upon a time', 'The dog']) {
      const a = await load(HF!);
      const b = await load(gguf);
      try {
        const ra = await a.generate(prompt, { temperature: 0, maxTokens: 48 }).result;
        const rb = await b.generate(prompt, { temperature: 0, maxTokens: 48 }).result;
        expect(rb.promptTokens).toEqual(ra.promptTokens);
        expect(rb.tokens).toEqual(ra.tokens);
        expect(rb.text).toBe(ra.text);
        expect(ra.text).toMatch(/^[\w\s.,!?'"-]+$/);
      } finally {
        await a.dispose();
        await b.dispose();
      }
    }
  });
});
