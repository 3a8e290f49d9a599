import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { decodeToF32, readGguf, type GgufFile } from '@bitexit/format';
import { openFileSource } from '@bitexit/format/node';
import { tokenizerFromGguf } from '@bitexit/tokenizer';
import { demoExitsPath, demoModelInfo, demoModelPath } from './index.js';
import golden from './golden.json' with { type: 'json' };

const LAYER_SUFFIXES = [
  'attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down',
];

describe('@bitexit/model-demo', () => {
  let gguf: GgufFile;
  beforeAll(async () => {
    gguf = await readGguf(await openFileSource(demoModelPath()));
  });

  it('ships the model and its exit predictors at absolute paths, within the 12 MB package budget', () => {
    const p = demoModelPath();
    expect(isAbsolute(p)).toBe(true);
    expect(p.endsWith('model/bitexit-demo.gguf')).toBe(true);
    expect(demoExitsPath().endsWith('model/bitexit-demo.exits.gguf')).toBe(true);
    const size = statSync(p).size + statSync(demoExitsPath()).size;
    expect(statSync(p).size).toBeGreaterThan(2_000_000);
    expect(size).toBeLessThanOrEqual(12 * 1024 * 1024);
  });

  it('has the llama metadata that demoModelInfo describes', () => {
    const i = demoModelInfo;
    expect(gguf.version).toBe(3);
    expect(gguf.alignment).toBe(32);
    expect(gguf.getString('general.architecture')).toBe('llama');
    expect(gguf.getString('general.name')).toBe(i.name);
    expect(gguf.getNumber('llama.context_length')).toBe(i.contextLength);
    expect(gguf.getNumber('llama.embedding_length')).toBe(i.embeddingLength);
    expect(gguf.getNumber('llama.block_count')).toBe(i.blockCount);
    expect(gguf.getNumber('llama.feed_forward_length')).toBe(i.feedForwardLength);
    expect(gguf.getNumber('llama.attention.head_count')).toBe(i.headCount);
    expect(gguf.getNumber('llama.attention.head_count_kv')).toBe(i.headCountKv);
    expect(gguf.getNumber('llama.rope.dimension_count')).toBe(i.embeddingLength / i.headCount);
    expect(gguf.getNumber('llama.rope.freq_base')).toBe(i.ropeFreqBase);
    expect(gguf.getNumber('llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(i.rmsNormEps, 10);
    expect(gguf.getString('tokenizer.ggml.model')).toBe('llama');
    expect(gguf.getBool('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(gguf.getNumber('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(gguf.getNumber('tokenizer.ggml.eos_token_id')).toBe(2);
    expect(gguf.getNumber('tokenizer.ggml.unknown_token_id')).toBe(0);
  });

  it('has a 1024-piece SentencePiece vocabulary with byte fallback', () => {
    const tokens = gguf.getArray('tokenizer.ggml.tokens') as string[];
    const types = gguf.getArray('tokenizer.ggml.token_type') as number[];
    const scores = gguf.getArray('tokenizer.ggml.scores') as number[];
    expect(tokens).toHaveLength(demoModelInfo.vocabSize);
    expect(scores).toHaveLength(demoModelInfo.vocabSize);
    expect(types.slice(0, 3)).toEqual([2, 3, 3]); // <unk>, <s>, </s>
    expect(tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
    const bytePieces = tokens.filter((_piece, k) => types[k] === 6);
    expect(bytePieces).toHaveLength(256);
    expect(bytePieces[0x0a]).toBe('<0x0A>');
    expect(types.filter((t) => t === 1).length).toBe(demoModelInfo.vocabSize - 259);
  });

  it('has every llama tensor: bx matrices, q8_0 tied embedding, F32 norms, and the F16 draft head', () => {
    const i = demoModelInfo;
    const byName = new Map(gguf.tensors.map((t) => [t.name, t]));
    const kvDim = (i.embeddingLength / i.headCount) * i.headCountKv;
    const expectT = (name: string, dims: number[], type: string) => {
      const t = byName.get(name);
      expect(t, name).toBeDefined();
      expect(t!.dims, name).toEqual(dims);
      expect(t!.typeName, name).toBe(type);
    };
    const bxNames = new Set(gguf.getArray('bitexit.bx.tensors') as string[]);
    const expectBx = (name: string) => {
      expect(byName.get(name)?.typeName, name).toBe('I8');
      expect(bxNames.has(name), name).toBe(true);
    };
    const d = i.embeddingLength, f = i.feedForwardLength;
    expectT('token_embd.weight', [d, i.vocabSize], 'Q8_0');
    expectT('output_norm.weight', [d], 'F32');
    expect(byName.has('output.weight')).toBe(false);
    for (let k = 0; k < i.blockCount; k++) {
      expectT(`blk.${k}.attn_norm.weight`, [d], 'F32');
      expectT(`blk.${k}.ffn_norm.weight`, [d], 'F32');
      for (const m of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']) expectBx(`blk.${k}.${m}.weight`);
    }
    expect(bxNames.size).toBe(7 * i.blockCount);
    // The draft head travels through the quantizer as it was trained (F16, norms F32).
    expectT('eagle.blk.0.attn_norm.weight', [d], 'F32');
    expectT('eagle.blk.0.attn_q.weight', [d, d], 'F16');
    expectT('eagle.blk.0.attn_k.weight', [d, kvDim], 'F16');
    expectT('eagle.blk.0.ffn_down.weight', [f, d], 'F16');
    expectT('eagle.fc.weight', [2 * d, d], 'F16');
    expect(gguf.tensors).toHaveLength(2 + 9 * i.blockCount + 1 + 9);
    const eagleParams = gguf.tensors.filter((t) => t.name.startsWith('eagle.')).reduce((s, t) => s + t.nElements, 0);
    expect(eagleParams).toBe(i.draftParameters);
    expect(LAYER_SUFFIXES.length).toBe(9);
    expect(gguf.getString('bitexit.eagle.layout')).toBe('eagle1');
    expect(gguf.getString('bitexit.eagle.feature')).toBe('output_norm');
    expect(gguf.getNumber('bitexit.quant.bits_per_weight')).toBeCloseTo(i.matrixBitsPerWeight, 3);
    expect(i.matrixBitsPerWeight).toBeLessThanOrEqual(2.9);
  });

  it('holds trained, finite weights', async () => {
    const norm = decodeToF32(await gguf.readTensor(gguf.tensors.find((t) => t.name === 'blk.3.ffn_norm.weight')!));
    expect(norm.every(Number.isFinite)).toBe(true);
    expect(norm.some((x) => Math.abs(x - 1) > 0.05)).toBe(true); // moved away from the RMSNorm init of 1
    const emb = decodeToF32(await gguf.readTensor(gguf.tensors.find((t) => t.name === 'token_embd.weight')!));
    expect(emb).toHaveLength(demoModelInfo.vocabSize * demoModelInfo.embeddingLength);
    expect(emb.every(Number.isFinite)).toBe(true);
    let sq = 0;
    for (const x of emb) sq += x * x;
    const rms = Math.sqrt(sq / emb.length);
    expect(rms).toBeGreaterThan(0.01);
    expect(rms).toBeLessThan(10);
  });

  it('tokenizes like the SentencePiece model it was trained with', () => {
    const tok = tokenizerFromGguf(gguf);
    for (const c of golden.tokenizer) {
      expect(tok.encode(c.text, { addBos: false }), c.text).toEqual(c.ids);
    }
    for (const c of golden.cases) {
      expect(tok.encode(c.prompt), c.prompt).toEqual(c.prompt_ids);
    }
  });
});
