import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FileAccessError, MemoryByteSink, MemoryByteSource, decodeToF32, encodeGguf, ggufWriteSpecFrom, readGguf } from '@bitexit/format';
import { tokenizerFromGguf } from '@bitexit/tokenizer';
import { fixturePath } from '@bitexit/format/node';
import { convertModelFile, openModel } from './node.js';
import { convertToGguf } from './convert.js';
import { openGgufModel } from './gguf.js';
import { halfToAdjacentRowOrder, adjacentToHalfRowOrder, permuteRows } from './permute.js';
import type { ModelSource } from './types.js';
import { randomF32, tempDir, tinyHfModel, writeHfDir } from './test-support.js';

const hfDir = fixturePath('tinystories-656k');
const binPath = fixturePath('stories260K/stories260K.bin');
const tokPath = fixturePath('stories260K/tok512.bin');
const ggufPath = fixturePath('stories260K/stories260K.gguf');
const devText = fixturePath('text/tinystories-dev.txt');

/** llama.cpp's LlamaModel.permute written out with numpy's index semantics, independently of permute.ts. */
function numpyPermute(w: Float32Array, rows: number, cols: number, nHead: number): Float32Array {
  // w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(rows, cols)
  const half = rows / nHead / 2;
  const out = new Float32Array(w.length);
  let o = 0;
  for (let h = 0; h < nHead; h++)
    for (let i = 0; i < half; i++) // axis 1 after swap: was axis 2
      for (let j = 0; j < 2; j++) // axis 2 after swap: was axis 1
        for (let c = 0; c < cols; c++) out[o++] = w[((h * 2 + j) * half + i) * cols + c];
  return out;
}

const matvec = (w: Float32Array, rows: number, cols: number, x: Float32Array): Float64Array => {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
};

/** Rotary embedding of one vector of `heads` heads at position `pos`, in either layout. */
function rope(v: Float64Array, heads: number, d: number, pos: number, style: 'half' | 'adjacent', theta = 10000): Float64Array {
  const out = Float64Array.from(v);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      const ang = pos * Math.pow(theta, (-2 * i) / d);
      const [a, b] = style === 'half' ? [h * d + i, h * d + i + d / 2] : [h * d + 2 * i, h * d + 2 * i + 1];
      out[a] = v[a] * Math.cos(ang) - v[b] * Math.sin(ang);
      out[b] = v[a] * Math.sin(ang) + v[b] * Math.cos(ang);
    }
  }
  return out;
}

describe('Q/K permutation', () => {
  it('matches llama.cpp convert_hf_to_gguf.py LlamaModel.permute and inverts', () => {
    for (const [heads, d] of [[8, 16], [4, 8], [2, 64]]) {
      const cols = 5;
      const w = randomF32(heads * d * cols, heads * d);
      const t = { name: 'q', dtype: 'f32' as const, shape: [heads * d, cols], data: new Uint8Array(w.buffer.slice(0)) };
      const p = permuteRows(t, halfToAdjacentRowOrder(heads, d));
      expect(Array.from(decodeToF32(p))).toEqual(Array.from(numpyPermute(w, heads * d, cols, heads)));
      const back = permuteRows(p, adjacentToHalfRowOrder(heads, d));
      expect(Buffer.from(back.data).equals(Buffer.from(t.data))).toBe(true);
    }
  });

  it("rotate-half on HF weights equals adjacent-pair rotation on permuted weights (same q·k)", () => {
    const heads = 4;
    const kvHeads = 2;
    const d = 16;
    const dim = 24;
    const wq = randomF32(heads * d * dim, 1);
    const wk = randomF32(kvHeads * d * dim, 2);
    const x = randomF32(dim, 3);
    const y = randomF32(dim, 4);
    const pq = numpyPermute(wq, heads * d, dim, heads);
    const pk = numpyPermute(wk, kvHeads * d, dim, kvHeads);
    const order = halfToAdjacentRowOrder(heads, d);
    for (const pos of [0, 1, 7, 300]) {
      const qh = rope(matvec(wq, heads * d, dim, x), heads, d, pos, 'half');
      const qa = rope(matvec(pq, heads * d, dim, x), heads, d, pos, 'adjacent');
      // Same rotated vector, up to the row permutation.
      for (let r = 0; r < qa.length; r++) expect(qa[r]).toBeCloseTo(qh[order[r]], 9);
      // Attention scores agree: q(pos)·k(pos2) per (query head, its kv head).
      const kh = rope(matvec(wk, kvHeads * d, dim, y), kvHeads, d, 3, 'half');
      const ka = rope(matvec(pk, kvHeads * d, dim, y), kvHeads, d, 3, 'adjacent');
      for (let h = 0; h < heads; h++) {
        const kv = Math.floor((h * kvHeads) / heads);
        let s1 = 0;
        let s2 = 0;
        for (let i = 0; i < d; i++) {
          s1 += qh[h * d + i] * kh[kv * d + i];
          s2 += qa[h * d + i] * ka[kv * d + i];
        }
        expect(s2).toBeCloseTo(s1, 9);
      }
      // And without the permutation the conventions disagree (the test can fail).
      const wrong = rope(matvec(wq, heads * d, dim, x), heads, d, pos, 'adjacent');
      if (pos > 0) expect(wrong.some((v, r) => Math.abs(v - qa[r]) > 1e-6)).toBe(true);
    }
  });
});

async function convertInMemory(src: ModelSource, dtype?: 'keep' | 'f32' | 'f16' | 'q8_0'): Promise<{ bytes: Uint8Array; out: ModelSource }> {
  const sink = new MemoryByteSink();
  await convertToGguf(src, sink, { dtype });
  const bytes = sink.bytes();
  const out = await openGgufModel(new MemoryByteSource('converted.gguf', bytes));
  return { bytes, out };
}

describe('convertToGguf', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterAll(async () => cleanup());

  it.skipIf(!hfDir)('HF TinyStories-656K → GGUF file: same config but adjacent, Q/K permuted, same tokenizer', async () => {
    const out = join(dir, 'ts656k.gguf');
    const res = await convertModelFile(hfDir!, out);
    expect(res.architecture).toBe('llama');
    expect(res.permutedTensors).toEqual(['blk.0.attn_q.weight', 'blk.0.attn_k.weight', 'blk.1.attn_q.weight', 'blk.1.attn_k.weight']);
    expect(existsSync(`${out}.partial`)).toBe(false);
    const hf = await openModel(hfDir!);
    const g = await openModel(out);
    try {
      expect(g.config).toEqual({ ...hf.config, ropeStyle: 'adjacent', rmsEps: Math.fround(1e-6) });
      expect([...g.tensors.keys()].sort()).toEqual([...hf.tensors.keys()].sort());
      for (const [name, e] of hf.tensors) {
        const a = await e.load();
        const b = await g.tensors.get(name)!.load();
        expect(b.shape).toEqual(a.shape);
        const isQ = name.endsWith('attn_q.weight');
        const isK = name.endsWith('attn_k.weight');
        const want = isQ || isK ? numpyPermute(decodeToF32(a), a.shape[0], a.shape[1], isQ ? 8 : 4) : decodeToF32(a);
        expect(Buffer.from(decodeToF32(b).buffer).equals(Buffer.from(want.buffer)), name).toBe(true);
        if (isQ) expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(false);
      }
      const raw = await readGguf(new MemoryByteSource('x', await readFile(out)));
      expect(raw.getString('general.architecture')).toBe('llama');
      expect(raw.getString('tokenizer.ggml.model')).toBe('llama');
      expect(raw.getNumber('llama.rope.dimension_count')).toBe(16);
      expect(raw.getStringArray('tokenizer.ggml.tokens')!.length).toBe(2048);
      expect(raw.getString('tokenizer.huggingface.json')).toBe(await readFile(join(hfDir!, 'tokenizer.json'), 'utf8'));
      expect(g.tokenizer!.bosId).toBe(1);
      expect(g.tokenizer!.eosId).toBe(2);
      if (devText) {
        const text = (await readFile(devText, 'utf8')).slice(0, 30000);
        const ids = hf.tokenizer!.encode(text, { addBos: true });
        expect(ids.length).toBeGreaterThan(5000);
        expect(g.tokenizer!.encode(text, { addBos: true })).toEqual(ids);
      }
    } finally {
      await Promise.all([hf.close(), g.close()]);
    }
  });

  it.skipIf(!hfDir || !devText)('the llama.cpp vocabulary written for a byte-fallback BPE tokenizes like the HF tokenizer', async () => {
    const hf = await openModel(hfDir!);
    try {
      const { bytes } = await convertInMemory(hf);
      const g = await readGguf(new MemoryByteSource('c.gguf', bytes));
      // Drop the embedded tokenizer.json, leaving what llama.cpp would use.
      const spec = ggufWriteSpecFrom(g);
      spec.metadata = spec.metadata.filter(([k]) => !k.startsWith('tokenizer.huggingface.'));
      const stripped = await readGguf(new MemoryByteSource('s.gguf', await encodeGguf(spec)));
      const spm = tokenizerFromGguf(stripped);
      expect(spm.kind).toBe('sentencepiece-bpe');
      const text = (await readFile(devText!, 'utf8')).slice(0, 30000);
      expect(spm.encode(text, { addBos: true })).toEqual(hf.tokenizer!.encode(text, { addBos: true }));
    } finally {
      await hf.close();
    }
  });

  it.skipIf(!binPath || !tokPath || !ggufPath)('llama2.c stories260K → GGUF reproduces the fixture GGUF vocabulary and tensors', async () => {
    const src = await openModel(binPath!, { tokenizerPath: tokPath! });
    const ref = await openModel(ggufPath!);
    try {
      const { bytes, out } = await convertInMemory(src);
      expect(out.config).toEqual({ ...ref.config, contextLength: 512, tiedEmbeddings: true });
      const a = await readGguf(new MemoryByteSource('a', bytes));
      const b = await readGguf(new MemoryByteSource('b', await readFile(ggufPath!)));
      for (const k of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type']) {
        expect(a.getArray(k), k).toEqual(b.getArray(k));
      }
      expect(a.getNumber('tokenizer.ggml.bos_token_id')).toBe(1);
      for (const [name, e] of out.tensors) {
        const x = await e.load();
        const y = await ref.tensors.get(name)!.load();
        expect(Buffer.from(x.data).equals(Buffer.from(y.data)), name).toBe(true);
      }
      expect(out.tokenizer!.encode('Once upon a time', { addBos: true })).toEqual(ref.tokenizer!.encode('Once upon a time', { addBos: true }));
    } finally {
      await Promise.all([src.close(), ref.close()]);
    }
  });

  it.skipIf(!ggufPath)('GGUF → GGUF with f16 / q8_0 storage keeps norms in f32 and values within rounding', async () => {
    const src = await openModel(ggufPath!);
    try {
      const { out } = await convertInMemory(src, 'f16');
      expect(out.tensors.get('output_norm.weight')!.dtype).toBe('f32');
      expect(out.tensors.get('blk.0.attn_q.weight')!.dtype).toBe('f16');
      expect(out.weightBytes).toBeLessThan(src.weightBytes * 0.51);
      const a = decodeToF32(await src.tensors.get('blk.3.ffn_up.weight')!.load());
      const b = decodeToF32(await out.tensors.get('blk.3.ffn_up.weight')!.load());
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -11 + 1e-7);
      const { out: q8 } = await convertInMemory(src, 'q8_0');
      expect(q8.tensors.get('blk.0.attn_q.weight')!.dtype).toBe('q8_0');
      // Rows of 172 are not multiples of 32: llama.cpp-style fallback to f16.
      expect(q8.tensors.get('blk.0.ffn_down.weight')!.dtype).toBe('f16');
      expect(q8.config).toEqual(src.config);
    } finally {
      await src.close();
    }
  });

  it('Qwen2 keeps rotate-half weights unpermuted, with biases', async () => {
    const hf = join(dir, 'qwen');
    const model = tinyHfModel({ architecture: 'Qwen2ForCausalLM', bias: true, tied: true });
    await writeHfDir(hf, model);
    const src = await openModel(hf);
    const { bytes, out } = await convertInMemory(src);
    expect(out.config).toEqual({ ...src.config, rmsEps: Math.fround(1e-5) });
    expect((await readGguf(new MemoryByteSource('q', bytes))).getString('general.architecture')).toBe('qwen2');
    const q = decodeToF32(await out.tensors.get('blk.0.attn_q.weight')!.load());
    expect(Array.from(q)).toEqual(Array.from(model.tensors.get('model.layers.0.self_attn.q_proj.weight')!.values));
    const qb = decodeToF32(await out.tensors.get('blk.1.attn_q.bias')!.load());
    expect(Array.from(qb)).toEqual(Array.from(model.tensors.get('model.layers.1.self_attn.q_proj.bias')!.values));
    await src.close();
  });

  it('Llama-3 rope scaling survives a round trip through rope_freqs.weight', async () => {
    const hf = join(dir, 'l3');
    const rs = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    await writeHfDir(hf, tinyHfModel({ config: { rope_scaling: rs, rope_theta: 500000 } }));
    const src = await openModel(hf);
    const { bytes, out } = await convertInMemory(src);
    expect(out.config.ropeScaling).toEqual(src.config.ropeScaling);
    expect((await readGguf(new MemoryByteSource('l3', bytes))).tensor('rope_freqs.weight')!.shape).toEqual([2]);
    await src.close();
  });

  it('reports unreadable inputs and unwritable outputs with FileAccessError, leaving no file', async () => {
    const out = join(dir, 'fail.gguf');
    await expect(convertModelFile(join(dir, 'does-not-exist'), out)).rejects.toThrow(/does-not-exist: no such file/);
    expect(existsSync(out) || existsSync(`${out}.partial`)).toBe(false);
    const hf = join(dir, 'small');
    await writeHfDir(hf, tinyHfModel());
    const bad = join(dir, 'no-such-dir', 'x.gguf');
    const err = await convertModelFile(hf, bad).catch((e) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toContain('x.gguf.partial');
  });
});
