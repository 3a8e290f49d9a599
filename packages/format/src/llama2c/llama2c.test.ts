import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';

// Fuzz loops below: a hang is a failure.
vi.setConfig({ testTimeout: 15_000 });
import { MemoryByteSource } from '../byte-source.js';
import { ModelFormatError } from '../errors.js';
import { readGguf } from '../gguf/reader.js';
import { concat, expectBitexitError, expectCleanOutcome, flipRandomBytes, rng, TracingSource } from '../internal/testing.js';
import { fixturePath } from '../node/fixtures.js';
import { decodeToF32 } from '../numeric.js';
import { LLAMA2C_HEADER_BYTES, readLlama2cCheckpoint } from './checkpoint.js';
import { readLlama2cTokenizer } from './tokenizer.js';

const BIN = fixturePath('stories260K/stories260K.bin');
const TOK = fixturePath('stories260K/tok512.bin');
const GGUF = fixturePath('stories260K/stories260K.gguf');

const load = (p: string) => new Uint8Array(readFileSync(p));

function header(...v: number[]): Uint8Array {
  const b = new Uint8Array(28);
  const dv = new DataView(b.buffer);
  v.forEach((x, i) => dv.setInt32(i * 4, x, true));
  return b;
}

/** A tiny valid checkpoint: dim 8, hidden 16, 2 layers, 2 heads, 1 kv head, vocab `vocab`, seq 4. */
function tinyCheckpoint(vocab: number): Uint8Array {
  const [dim, hidden, L, kvDim, seq, hs] = [8, 16, 2, 4, 4, 4];
  const V = Math.abs(vocab);
  const floats =
    V * dim + L * dim + L * dim * dim + 2 * L * kvDim * dim + L * dim * dim + L * dim + 3 * L * hidden * dim + dim + 2 * seq * (hs / 2) + (vocab < 0 ? V * dim : 0);
  const data = new Float32Array(floats).map((_, i) => i);
  return concat(header(dim, hidden, L, 2, 1, vocab, seq), new Uint8Array(data.buffer));
}

describe.skipIf(!BIN || !GGUF)('stories260K.bin against stories260K.gguf', () => {
  it('has the documented config', async () => {
    const c = await readLlama2cCheckpoint(new MemoryByteSource(BIN!, load(BIN!)));
    expect(c.config).toEqual({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    expect(c.tensors.map((t) => t.name)).toEqual([
      'token_embedding_table',
      'rms_att_weight',
      'wq',
      'wk',
      'wv',
      'wo',
      'rms_ffn_weight',
      'w1',
      'w2',
      'w3',
      'rms_final_weight',
      'freq_cis_real',
      'freq_cis_imag',
    ]);
    expect(c.tensor('wk')!.shape).toEqual([5, 32, 64]);
    expect(c.tensor('w2')!.layerShape).toEqual([64, 172]);
    await expect(c.readTensor('wcls')).rejects.toThrow(/shared/);
  });

  it('holds exactly the GGUF weights', async () => {
    const c = await readLlama2cCheckpoint(new MemoryByteSource(BIN!, load(BIN!)));
    const g = await readGguf(new MemoryByteSource(GGUF!, load(GGUF!)));
    const same = async (ggufName: string, t: Promise<import('../tensor.js').HostTensor>) => {
      const a = await g.readTensor(ggufName);
      const b = await t;
      expect(b.shape, ggufName).toEqual(a.shape);
      expect(Buffer.from(b.data).equals(Buffer.from(a.data)), ggufName).toBe(true);
    };
    await same('token_embd.weight', c.readTensor('token_embedding_table'));
    await same('output.weight', c.readTensor('token_embedding_table')); // shared classifier
    await same('output_norm.weight', c.readTensor('rms_final_weight'));
    const pairs: Array<[string, string]> = [
      ['attn_norm', 'rms_att_weight'],
      ['ffn_norm', 'rms_ffn_weight'],
      // In this file GGUF's Q/K rows are in the same (adjacent-pair RoPE) order as llama2.c's.
      ['attn_q', 'wq'],
      ['attn_k', 'wk'],
      ['attn_v', 'wv'],
      ['attn_output', 'wo'],
      ['ffn_gate', 'w1'],
      ['ffn_down', 'w2'],
      ['ffn_up', 'w3'],
    ];
    for (let l = 0; l < 5; l++) for (const [gg, lc] of pairs) await same(`blk.${l}.${gg}.weight`, c.readLayerTensor(lc, l));
    // Whole per-layer tensor = the layers concatenated.
    const all = await c.readTensor('wv');
    expect(all.shape).toEqual([5, 32, 64]);
    const l3 = await c.readLayerTensor('wv', 3);
    expect(Buffer.from(all.data.subarray(3 * l3.data.length, 4 * l3.data.length)).equals(Buffer.from(l3.data))).toBe(true);
    await expect(c.readLayerTensor('wv', 5)).rejects.toThrow(/layer 5 out of range/);
    await expect(c.readLayerTensor('rms_final_weight', 0)).rejects.toThrow(/not a per-layer/);
  });

  it('stores RoPE tables cos/sin(pos * 10000^(-2i/head_size))', async () => {
    const c = await readLlama2cCheckpoint(new MemoryByteSource(BIN!, load(BIN!)));
    const re = decodeToF32(await c.readTensor('freq_cis_real'));
    const im = decodeToF32(await c.readTensor('freq_cis_imag'));
    for (const pos of [0, 1, 7, 511]) {
      for (let i = 0; i < 4; i++) {
        const a = pos * 10000 ** (-(2 * i) / 8);
        expect(re[pos * 4 + i]).toBeCloseTo(Math.cos(a), 3);
        expect(im[pos * 4 + i]).toBeCloseTo(Math.sin(a), 3);
      }
    }
  });
});

describe.skipIf(!TOK || !GGUF)('tok512.bin', () => {
  it('has the GGUF vocabulary (llama2.c export conventions)', async () => {
    const tok = await readLlama2cTokenizer(new MemoryByteSource(TOK!, load(TOK!)), 512);
    const g = await readGguf(new MemoryByteSource(GGUF!, load(GGUF!)));
    const tokens = g.getStringArray('tokenizer.ggml.tokens')!;
    const scores = g.getNumberArray('tokenizer.ggml.scores')!;
    expect(tok.maxTokenLength).toBe(7);
    expect(tok.pieces.length).toBe(512);
    const dec = new TextDecoder();
    for (let i = 0; i < 512; i++) {
      // llama2.c's exporter writes '▁' as ' ' and wraps BOS/EOS in newlines.
      let want = tokens[i].replaceAll('▁', ' ');
      if (i === 1 || i === 2) want = `\n${want}\n`;
      expect(dec.decode(tok.pieces[i]), `token ${i}`).toBe(want);
      expect(tok.scores[i], `score ${i}`).toBe(scores[i]);
    }
  });

  it('rejects truncation at the first 400 bytes and 300 random points', async () => {
    const bytes = load(TOK!);
    const random = rng(8);
    const points = [...Array(400).keys(), ...Array.from({ length: 300 }, () => Math.floor(random() * bytes.length))];
    for (const len of points) {
      await expectBitexitError('tok.bin', () => readLlama2cTokenizer(new TracingSource('tok.bin', bytes.subarray(0, len)), 512));
    }
  });

  it('survives 300 random byte flips', async () => {
    const bytes = load(TOK!);
    const random = rng(9);
    let rejected = 0;
    for (let i = 0; i < 300; i++) {
      const m = flipRandomBytes(bytes, random, 1 + Math.floor(random() * 3));
      if (await expectCleanOutcome('tok.bin', () => readLlama2cTokenizer(new TracingSource('tok.bin', m), 512))) rejected++;
    }
    expect(rejected).toBeGreaterThan(50);
  });
});

describe('llama2.c checkpoint validation', () => {
  it('reads a synthetic checkpoint with a separate classifier', async () => {
    const bytes = tinyCheckpoint(-10);
    const c = await readLlama2cCheckpoint(new TracingSource('tiny.bin', bytes));
    expect(c.config.sharedClassifier).toBe(false);
    expect(c.config.vocabSize).toBe(10);
    const wcls = c.tensor('wcls')!;
    expect(wcls.shape).toEqual([10, 8]);
    expect(wcls.offset + wcls.byteLength).toBe(bytes.length);
    const t = decodeToF32(await c.readTensor('wcls'));
    expect(t[0]).toBe((wcls.offset - LLAMA2C_HEADER_BYTES) / 4);
  });

  it('rejects truncation at every tensor boundary and 300 random points, and trailing bytes', async () => {
    for (const vocab of [10, -10]) {
      const bytes = tinyCheckpoint(vocab);
      const c = await readLlama2cCheckpoint(new TracingSource('tiny.bin', bytes));
      const random = rng(vocab + 100);
      const points = [0, 4, 27, 28, ...c.tensors.flatMap((t) => [t.offset, t.offset + 1, t.offset + t.byteLength - 1])];
      for (let i = 0; i < 300; i++) points.push(Math.floor(random() * bytes.length));
      for (const len of points) {
        if (len >= bytes.length) continue;
        await expectBitexitError('tiny.bin', () => readLlama2cCheckpoint(new TracingSource('tiny.bin', bytes.subarray(0, len))));
      }
      await expectBitexitError('tiny.bin', () => readLlama2cCheckpoint(new TracingSource('tiny.bin', concat(bytes, new Uint8Array(4)))));
    }
  });

  it('survives 300 random header mutations', async () => {
    const bytes = tinyCheckpoint(10);
    const random = rng(21);
    for (let i = 0; i < 300; i++) {
      const m = bytes.slice();
      const dv = new DataView(m.buffer);
      const field = Math.floor(random() * 7);
      const pick = [0, -1, 1, 2 ** 31 - 1, -(2 ** 31), 3, 1 << 20, Math.floor(random() * 2 ** 32) | 0];
      dv.setInt32(field * 4, pick[Math.floor(random() * pick.length)], true);
      const src = new TracingSource('mut.bin', m);
      await expectCleanOutcome('mut.bin', () => readLlama2cCheckpoint(src));
      expect(src.maxRead).toBeLessThanOrEqual(m.length);
    }
  });

  const bad: Array<[string, Uint8Array, RegExp]> = [
    ['too short', new Uint8Array(10), /too short/],
    ['zero dim', header(0, 16, 2, 2, 1, 10, 4), /dim = 0/],
    ['negative layers', header(8, 16, -2, 2, 1, 10, 4), /n_layers = -2/],
    ['huge hidden', header(8, 2 ** 30, 2, 2, 1, 10, 4), /hidden_dim/],
    ['kv heads > heads', header(8, 16, 2, 2, 4, 10, 4), /not a multiple of n_kv_heads/],
    ['dim not multiple of heads', header(9, 16, 2, 2, 1, 10, 4), /not a multiple of n_heads/],
    ['odd head size', header(6, 16, 2, 2, 1, 10, 4), /odd/],
    ['vocab 0', header(8, 16, 2, 2, 1, 0, 4), /vocab_size = 0/],
    ['header only', header(8, 16, 2, 2, 1, 10, 4), /truncated/],
    ['v1 magic', concat(new Uint8Array([0x32, 0x34, 0x6b, 0x61]), new Uint8Array(252)), /ak42/],
    ['GGUF file', concat(new TextEncoder().encode('GGUF'), new Uint8Array(60)), /GGUF/],
  ];
  it.each(bad)('rejects: %s', async (_l, bytes, re) => {
    const e = await expectBitexitError('bad.bin', () => readLlama2cCheckpoint(new TracingSource('bad.bin', bytes)));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(re);
  });
});

describe('llama2.c tokenizer validation', () => {
  const tok = (maxLen: number, entries: Array<[number, number, number[]]>) => {
    const parts: number[] = [];
    const dv = new DataView(new ArrayBuffer(4));
    const i32 = (v: number) => {
      dv.setInt32(0, v, true);
      parts.push(...new Uint8Array(dv.buffer));
    };
    const f = (v: number) => {
      dv.setFloat32(0, v, true);
      parts.push(...new Uint8Array(dv.buffer));
    };
    i32(maxLen);
    for (const [score, len, b] of entries) {
      f(score);
      i32(len);
      parts.push(...b);
    }
    return new Uint8Array(parts);
  };

  it('reads a valid file', async () => {
    const t = await readLlama2cTokenizer(new TracingSource('t.bin', tok(3, [[-1.5, 1, [0x61]], [0, 0, []], [2, 3, [0xe2, 0x96, 0x81]]])), 3);
    expect(t.maxTokenLength).toBe(3);
    expect(t.pieces.map((p) => Array.from(p))).toEqual([[0x61], [], [0xe2, 0x96, 0x81]]);
    expect(Array.from(t.scores)).toEqual([-1.5, 0, 2]);
  });

  const bad: Array<[string, Uint8Array, number, RegExp]> = [
    ['empty', new Uint8Array(0), 1, /truncated/],
    ['max length 0', tok(0, [[0, 0, []]]), 1, /max_token_length 0/],
    ['max length 2^31-1', tok(2 ** 31 - 1, [[0, 0, []]]), 1, /max_token_length/],
    ['length above max', tok(2, [[0, 3, [1, 2, 3]]]), 1, /length 3, outside/],
    ['negative length', tok(2, [[0, -1, []]]), 1, /length -1/],
    ['length 2^31-1', tok(2 ** 16, [[0, 2 ** 31 - 1, []]]), 1, /length 2147483647/],
    ['vocab 2^40', tok(2, [[0, 1, [1]]]), 2 ** 40, /truncated/],
    ['vocab larger than file', tok(2, [[0, 1, [1]]]), 2, /truncated/],
    ['vocab 0', tok(2, []), 0, /invalid vocabulary size/],
  ];
  it.each(bad)('rejects: %s', async (_l, bytes, vocab, re) => {
    const src = new TracingSource('tok.bin', bytes);
    const e = await expectBitexitError('tok.bin', () => readLlama2cTokenizer(src, vocab));
    expect(e).toBeInstanceOf(ModelFormatError);
    expect(e.message).toMatch(re);
  });
});
