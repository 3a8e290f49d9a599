import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '@bitexit/engine';
import { openModel } from '@bitexit/engine';
import { encodeF32, encodeGguf, ggufValue, MemoryByteSource, readGguf } from '@bitexit/format';
import { openFileSource } from '@bitexit/format/node';
import { eagleTargetFromSource, hasEagleHead, loadEagleGguf, loadEagleSafetensors, type EagleTarget } from './eagle.js';
import { SpeceeFileError } from '../errors.js';
import { Rng, topK } from '../math.js';
import { buildSafetensors, randomArray } from '../test-helpers.js';
import { demoPath } from '../test-fixtures.js';

const cfg: ModelConfig = {
  architecture: 'llama',
  dim: 8,
  nLayers: 2,
  nHeads: 2,
  nKvHeads: 1,
  headDim: 4,
  ffnDim: 12,
  vocabSize: 16,
  contextLength: 64,
  rmsEps: 1e-5,
  ropeTheta: 10000,
  ropeDim: 4,
  ropeStyle: 'adjacent',
  ropeScaling: null,
  qkvBias: false,
  tiedEmbeddings: true,
};

interface Raw {
  fc: Float32Array;
  fcBias: Float32Array | null;
  inputNorm: Float32Array | null;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  o: Float32Array;
  post: Float32Array;
  gate: Float32Array;
  up: Float32Array;
  down: Float32Array;
}

function randomHead(seed: number, withBias: boolean, withNorm: boolean): Raw {
  const rng = new Rng(seed);
  const r = () => rng.next();
  const d = cfg.dim;
  return {
    fc: randomArray(d * 2 * d, r, 0.4),
    fcBias: withBias ? randomArray(d, r, 0.2) : null,
    inputNorm: withNorm ? Float32Array.from(randomArray(d, r, 0.3), (x) => 1 + x) : null,
    q: randomArray(8 * d, r, 0.5),
    k: randomArray(4 * d, r, 0.5),
    v: randomArray(4 * d, r, 0.5),
    o: randomArray(d * 8, r, 0.5),
    post: Float32Array.from(randomArray(d, r, 0.3), (x) => 1 + x),
    gate: randomArray(12 * d, r, 0.5),
    up: randomArray(12 * d, r, 0.5),
    down: randomArray(d * 12, r, 0.5),
  };
}

/** Straightforward whole-sequence reference (float64), written independently of the drafter. */
function reference(raw: Raw, target: EagleTarget, tokens: number[], feats: Float32Array[], style: 'half' | 'adjacent', start = 0): number[][] {
  const d = cfg.dim;
  const mv = (w: Float32Array, rows: number, x: number[]) => Array.from({ length: rows }, (_, i) => x.reduce((s, xv, j) => s + w[i * x.length + j]! * xv, 0));
  const norm = (x: number[], w: Float32Array) => {
    const r = 1 / Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length + cfg.rmsEps);
    return x.map((v, i) => v * r * w[i]!);
  };
  const rope = (x: number[], heads: number, pos: number) => {
    const y = [...x];
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < 2; i++) {
        const ang = pos * Math.pow(cfg.ropeTheta, (-2 * i) / cfg.ropeDim);
        const [a, b] = style === 'half' ? [h * 4 + i, h * 4 + i + 2] : [h * 4 + 2 * i, h * 4 + 2 * i + 1];
        y[a] = x[a]! * Math.cos(ang) - x[b]! * Math.sin(ang);
        y[b] = x[a]! * Math.sin(ang) + x[b]! * Math.cos(ang);
      }
    return y;
  };
  const xs: number[][] = [];
  const ks: number[][] = [];
  const vs: number[][] = [];
  const outs: number[][] = [];
  tokens.forEach((tok, t) => {
    const inp = [...target.embedding.subarray(tok * d, tok * d + d), ...feats[t]!];
    const x = mv(raw.fc, d, inp).map((v, i) => v + (raw.fcBias ? raw.fcBias[i]! : 0));
    const xn = raw.inputNorm ? norm(x, raw.inputNorm) : x;
    const q = rope(mv(raw.q, 8, xn), 2, start + t);
    ks.push(rope(mv(raw.k, 4, xn), 1, start + t));
    vs.push(mv(raw.v, 4, xn));
    const att: number[] = [];
    for (let h = 0; h < 2; h++) {
      const sc = ks.map((kk) => kk.reduce((s, kv, j) => s + kv * q[h * 4 + j]!, 0) / 2);
      const m = Math.max(...sc);
      const e = sc.map((s) => Math.exp(s - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < 4; j++) att.push(e.reduce((s, w, p) => s + w * vs[p]![j]!, 0) / z);
    }
    const h1 = x.map((v, i) => v + mv(raw.o, d, att)[i]!);
    const hn = norm(h1, raw.post);
    const g = mv(raw.gate, 12, hn);
    const u = mv(raw.up, 12, hn);
    const act = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
    const out = h1.map((v, i) => v + mv(raw.down, d, act)[i]!);
    xs.push(out);
    outs.push(Array.from({ length: cfg.vocabSize }, (_, vId) => out.reduce((s, ov, j) => s + ov * target.lmHead[vId * d + j]!, 0)));
  });
  return outs;
}

function makeTarget(seed: number): EagleTarget {
  const rng = new Rng(seed);
  const emb = randomArray(cfg.vocabSize * cfg.dim, () => rng.next(), 1);
  return { config: cfg, embedding: emb, lmHead: emb };
}

const hfTensors = (raw: Raw) => {
  const t = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: 'F32' as const, shape, data });
  return [
    t('fc.weight', [8, 16], raw.fc),
    ...(raw.fcBias ? [t('fc.bias', [8], raw.fcBias)] : []),
    t('layers.0.self_attn.q_proj.weight', [8, 8], raw.q),
    t('layers.0.self_attn.k_proj.weight', [4, 8], raw.k),
    t('layers.0.self_attn.v_proj.weight', [4, 8], raw.v),
    t('layers.0.self_attn.o_proj.weight', [8, 8], raw.o),
    t('layers.0.post_attention_layernorm.weight', [8], raw.post),
    t('layers.0.mlp.gate_proj.weight', [12, 8], raw.gate),
    t('layers.0.mlp.up_proj.weight', [12, 8], raw.up),
    t('layers.0.mlp.down_proj.weight', [8, 12], raw.down),
    // Published heads carry the embedding too; it is ignored (shared with the target).
    t('embed_tokens.weight', [16, 8], new Float32Array(128)),
  ];
};

describe('EagleDrafter (Hugging Face EAGLE-1 layout)', () => {
  const target = makeTarget(11);
  const raw = randomHead(5, true, false);
  const rng = new Rng(99);
  const feats = Array.from({ length: 6 }, () => randomArray(8, () => rng.next(), 1));
  const context = [1, 3, 7, 2, 9, 4, 12];

  it('matches an independent forward (fc with bias, no input norm, rotate-half RoPE) position by position', async () => {
    const head = await loadEagleSafetensors(new MemoryByteSource('eagle.safetensors', buildSafetensors(hfTensors(raw))), target);
    expect(head.head.inputNorm).toBeNull();
    expect(head.head.fcBias).not.toBeNull();
    // Position t reads token context[t+1] and feature f[t].
    const ref = reference(raw, target, context.slice(1, 7), feats, 'half');
    for (let t = 0; t < 6; t++) {
      const logits = head.proposeLogits(context.slice(0, t + 2), feats[t])!;
      expect(topK(logits, 3)).toEqual(topK(ref[t]!, 3));
      ref[t]!.forEach((v, i) => expect(logits[i]).toBeCloseTo(v, 4));
    }
    expect(head.cachedPositions).toBe(6);
  });

  it('truncates its cache when the context changes and restarts after a gap', async () => {
    const head = await loadEagleSafetensors(new MemoryByteSource('eagle.safetensors', buildSafetensors(hfTensors(raw))), target);
    for (let t = 0; t < 4; t++) await head.propose(context.slice(0, t + 2), 2, feats[t]);
    expect(head.cachedPositions).toBe(4);
    // Replace the token at index 3 (read by draft position 2; f[2] does not depend on it):
    // positions 0-1 kept, 2 recomputed from its stored feature, 3 appended.
    const alt = [1, 3, 7, 5, 9];
    const ids = await head.propose(alt, 2, feats[3]);
    expect(head.cachedPositions).toBe(4);
    // Same result as a fresh head fed the altered context from the start.
    const fresh = await loadEagleSafetensors(new MemoryByteSource('eagle.safetensors', buildSafetensors(hfTensors(raw))), target);
    await fresh.propose(alt.slice(0, 2), 2, feats[0]);
    await fresh.propose(alt.slice(0, 3), 2, feats[1]);
    await fresh.propose(alt.slice(0, 4), 2, feats[2]);
    expect(await fresh.propose(alt, 2, feats[3])).toEqual(ids);
    // A change further back leaves a gap (features unknown): the draft sequence restarts.
    await head.propose([1, 4, 7, 5, 9, 2], 2, feats[4]);
    expect(head.cachedPositions).toBe(1);
    // No feature, or a first token only: no draft.
    expect(await head.propose([1], 2, feats[0])).toEqual([]);
    expect(await head.propose(context, 2)).toEqual([]);
  });

  it('rejects a head of the wrong size or with missing tensors', async () => {
    const bad = hfTensors(raw).map((t) => (t.name === 'fc.weight' ? { ...t, shape: [8, 8], data: t.data.subarray(0, 64) } : t));
    await expect(loadEagleSafetensors(new MemoryByteSource('bad.safetensors', buildSafetensors(bad)), target)).rejects.toThrow(/fc\.weight.*shape/);
    const missing = hfTensors(raw).filter((t) => !t.name.includes('v_proj'));
    await expect(loadEagleSafetensors(new MemoryByteSource('m.safetensors', buildSafetensors(missing)), target)).rejects.toThrow(SpeceeFileError);
  });
});

describe('EagleDrafter (GGUF eagle.* layout)', () => {
  it('loads eagle.fc.weight + eagle.blk.0.* with an input norm and adjacent RoPE and matches the reference', async () => {
    const target = makeTarget(4);
    const raw = randomHead(8, false, true);
    const f = (name: string, shape: number[], data: Float32Array) => ({ name, dtype: 'f32' as const, shape, data: encodeF32(data) });
    const bytes = await encodeGguf({
      metadata: [
        ['general.architecture', ggufValue.string('llama')],
        ['bitexit.eagle.layout', ggufValue.string('eagle1')],
        ['bitexit.eagle.feature', ggufValue.string('output_norm')],
      ],
      tensors: [
        f('eagle.fc.weight', [8, 16], raw.fc),
        f('eagle.blk.0.attn_norm.weight', [8], raw.inputNorm!),
        f('eagle.blk.0.attn_q.weight', [8, 8], raw.q),
        f('eagle.blk.0.attn_k.weight', [4, 8], raw.k),
        f('eagle.blk.0.attn_v.weight', [4, 8], raw.v),
        f('eagle.blk.0.attn_output.weight', [8, 8], raw.o),
        f('eagle.blk.0.ffn_norm.weight', [8], raw.post),
        f('eagle.blk.0.ffn_gate.weight', [12, 8], raw.gate),
        f('eagle.blk.0.ffn_up.weight', [12, 8], raw.up),
        f('eagle.blk.0.ffn_down.weight', [8, 12], raw.down),
      ],
    });
    const gguf = await readGguf(new MemoryByteSource('head.gguf', bytes));
    expect(hasEagleHead(gguf)).toBe(true);
    const head = await loadEagleGguf(gguf, target, 'head.gguf');
    expect(head.head.ropeStyle).toBe('adjacent');
    const rng = new Rng(3);
    const feats = Array.from({ length: 4 }, () => randomArray(8, () => rng.next(), 1));
    const ctx = [1, 6, 2, 8, 3];
    // Start at draft position 2 (a session whose first features are unknown): RoPE positions stay absolute.
    const ref = reference(raw, target, ctx.slice(3, 5), feats.slice(2), 'adjacent', 2);
    expect(await head.propose(ctx.slice(0, 4), 4, feats[2])).toEqual(topK(ref[0]!, 4));
    expect(await head.propose(ctx, 4, feats[3])).toEqual(topK(ref[1]!, 4));
  });
});

describe.skipIf(!demoPath)('the demo model\'s EAGLE head', () => {
  it('loads from the model GGUF', async () => {
    const gguf = await readGguf(await openFileSource(demoPath!));
    if (!hasEagleHead(gguf)) {
      // A demo model shipped without a head must not claim one.
      expect(gguf.getString('bitexit.eagle.layout')).toBeUndefined();
      return;
    }
    const src = await openModel(demoPath!);
    try {
      const head = await loadEagleGguf(gguf, await eagleTargetFromSource(src), demoPath!);
      expect(head.head.fc.length).toBe(src.config.dim * 2 * src.config.dim);
      const ids = await head.propose([1, 50, 60], 4, new Float32Array(src.config.dim).fill(0.5));
      expect(ids).toHaveLength(4);
    } finally {
      await src.close();
    }
  });
});
