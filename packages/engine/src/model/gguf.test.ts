import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FileAccessError,
  ModelFormatError,
  UnsupportedArchitectureError,
  decodeToF32,
  encodeF32,
  encodeGguf,
  ggufValue,
} from '@bitexit/format';
import type { GgufMetadataValue, GgufTensorSpec } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { openModel } from './node.js';
import { describeModel } from './describe.js';
import { expectedTensors } from './validate.js';
import { planLoadConversion } from './conversion.js';
import { llama3RopeFactors } from './gguf.js';
import type { ModelConfig } from './types.js';
import { STORIES260K_CONFIG, randomF32, tempDir } from './test-support.js';

const ggufPath = fixturePath('stories260K/stories260K.gguf');


describe.skipIf(!ggufPath)('stories260K.gguf', () => {
  it('opens with the exact config, tensors and tokenizer', async () => {
    const m = await openModel(ggufPath!);
    try {
      expect(m.format).toBe('gguf');
      expect(m.config).toEqual(STORIES260K_CONFIG);
      expect(m.tensors.size).toBe(3 + 5 * 9);
      const k = m.tensors.get('blk.4.attn_k.weight')!;
      expect(k).toMatchObject({ dtype: 'f32', shape: [32, 64], byteLength: 32 * 64 * 4, sourceName: 'blk.4.attn_k.weight' });
      const t = await k.load();
      expect(t.shape).toEqual([32, 64]);
      expect(t.data.byteLength).toBe(32 * 64 * 4);
      const tok = m.tokenizer!;
      expect(tok.vocabSize).toBe(512);
      expect(tok.bosId).toBe(1);
      expect(tok.eosId).toBe(2);
      const d = describeModel(m);
      const params = 2 * 512 * 64 + 64 + 5 * (2 * 64 + 64 * 64 * 2 + 32 * 64 * 2 + 3 * 64 * 172);
      expect(d.parameterCount).toBe(params);
      expect(d.weightBytes).toBe(4 * params);
      expect(d.bitsPerWeight).toBe(32);
      expect(d.tokenizer).toEqual({ kind: 'sentencepiece-bpe', vocabSize: 512, bosId: 1, eosId: 2, stopIds: expect.any(Array), hasChatTemplate: false });
      expect((d.metadata.kv as Record<string, unknown>)['llama.block_count']).toBe(5);
      expect((d.metadata.kv as Record<string, unknown>)['tokenizer.ggml.tokens']).toBe('<string[512]>');
      expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    } finally {
      await m.close();
    }
  });

  it('stores output.weight equal to token_embd.weight (the llama2.c classifier was shared)', async () => {
    const m = await openModel(ggufPath!);
    try {
      const a = await m.tensors.get('output.weight')!.load();
      const b = await m.tensors.get('token_embd.weight')!.load();
      expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    } finally {
      await m.close();
    }
  });
});

describe('openModel errors', () => {
  it('reports a directory that is not a Hugging Face model', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const err = await openModel(dir).catch((e) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect(err.message).toBe(`${dir}: directory has no config.json (expected a Hugging Face model directory, a .gguf file or a llama2.c checkpoint)`);
    } finally {
      await cleanup();
    }
  });

  it('reports a missing path with FileAccessError', async () => {
    const err = await openModel('/nonexistent/bitexit/model.gguf').catch((e) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toBe('/nonexistent/bitexit/model.gguf: no such file or directory');
  });
});

// ------------------------------------------------------------ synthetic GGUFs

const tiny: ModelConfig = {
  architecture: 'llama',
  dim: 32,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  headDim: 8,
  ffnDim: 24,
  vocabSize: 32,
  contextLength: 64,
  rmsEps: Math.fround(1e-5),
  ropeTheta: 10000,
  ropeDim: 8,
  ropeStyle: 'adjacent',
  ropeScaling: null,
  qkvBias: false,
  tiedEmbeddings: true,
};

function tinyGguf(
  arch = 'llama',
  opts: { drop?: string; reshape?: [string, number[]]; extraMeta?: Array<[string, GgufMetadataValue]>; extraTensors?: GgufTensorSpec[]; q4?: string } = {},
  c: ModelConfig = tiny,
): Promise<Uint8Array> {
  const metadata: Array<[string, GgufMetadataValue]> = [
    ['general.architecture', ggufValue.string(arch)],
    [`${arch}.context_length`, ggufValue.uint32(c.contextLength)],
    [`${arch}.embedding_length`, ggufValue.uint32(c.dim)],
    [`${arch}.block_count`, ggufValue.uint32(c.nLayers)],
    [`${arch}.feed_forward_length`, ggufValue.uint32(c.ffnDim)],
    [`${arch}.attention.head_count`, ggufValue.uint32(c.nHeads)],
    [`${arch}.attention.head_count_kv`, ggufValue.uint32(c.nKvHeads)],
    [`${arch}.attention.layer_norm_rms_epsilon`, ggufValue.float32(c.rmsEps)],
    ...(opts.extraMeta ?? []),
  ];
  const tensors: GgufTensorSpec[] = [...(opts.extraTensors ?? [])];
  let seed = 7;
  for (const [name, shape0] of expectedTensors(c)) {
    if (name === opts.drop) continue;
    const shape = opts.reshape?.[0] === name ? opts.reshape[1] : shape0;
    const n = shape.reduce((a, b) => a * b, 1);
    if (name === opts.q4) {
      tensors.push({ name, dtype: 'f32', shape, data: new Uint8Array((n / 32) * 18), ggmlType: 2 });
    } else {
      tensors.push({ name, dtype: 'f32', shape, data: encodeF32(randomF32(n, seed++)) });
    }
  }
  return encodeGguf({ metadata, tensors });
}

describe('synthetic GGUF files', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const write = async (bytes: Uint8Array): Promise<string> => {
    const p = join(dir, `m${n++}.gguf`);
    await writeFile(p, bytes);
    return p;
  };
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterAll(async () => cleanup());

  it('opens a tokenizer-less tied llama with defaults for optional keys', async () => {
    const m = await openModel(await write(await tinyGguf()));
    expect(m.config).toEqual(tiny);
    expect(m.tokenizer).toBeNull();
    await m.close();
  });

  it('opens qwen2 as rotate-half', async () => {
    const m = await openModel(await write(await tinyGguf('qwen2')));
    expect(m.config).toEqual({ ...tiny, architecture: 'qwen2', ropeStyle: 'half' });
    await m.close();
  });

  it('rejects other architectures', async () => {
    const p = await write(await tinyGguf('gemma'));
    const err = await openModel(p).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedArchitectureError);
    expect(err.message).toBe(`${p}: unsupported architecture 'gemma' (supported: llama, qwen2)`);
  });

  it('rejects missing tensors and wrong shapes', async () => {
    const p1 = await write(await tinyGguf('llama', { drop: 'blk.1.attn_v.weight' }));
    await expect(openModel(p1)).rejects.toThrow(new ModelFormatError(p1, "missing tensor 'blk.1.attn_v.weight' (expected shape [16, 32])"));
    const p2 = await write(await tinyGguf('llama', { reshape: ['blk.0.ffn_down.weight', [24, 32]] }));
    await expect(openModel(p2)).rejects.toThrow(/blk\.0\.ffn_down\.weight.*has shape \[24, 32\], expected \[32, 24\]/);
  });

  it('lists llama.cpp block-type tensors as stored and converts them to Q8_0 at load without changing a value', async () => {
    const p = await write(await tinyGguf('llama', { q4: 'token_embd.weight' }));
    const m = await openModel(p);
    try {
      const e = m.tensors.get('token_embd.weight')!;
      expect(e.stored).toEqual({ type: 'Q4_0', decodable: true });
      expect(e.dtype).toBe('q8_0');
      const loaded = await e.load();
      expect(loaded.dtype).toBe('q8_0');
      expect(decodeToF32(loaded)).toEqual(await e.loadF32!());
      expect(planLoadConversion(m)).toMatchObject({ tensors: 1, from: ['Q4_0'], to: 'q8_0', rounded: [] });
      expect(describeModel(m).tensors.find((t) => t.name === 'token_embd.weight')).toMatchObject({ dtype: 'q4_0', loadsAs: 'q8_0' });
    } finally {
      await m.close();
    }
  });

  it('rejects inconsistent head counts', async () => {
    // Patch head_count_kv (a uint32 right after its key and type id) to 3.
    const bytes = Buffer.from(await tinyGguf());
    const key = Buffer.from('llama.attention.head_count_kv');
    const at = bytes.indexOf(key) + key.length + 4;
    expect(bytes.readUInt32LE(at)).toBe(2);
    bytes.writeUInt32LE(3, at);
    const p = await write(bytes);
    await expect(openModel(p)).rejects.toThrow(/head count 4 is not a multiple of kv head count 3/);
  });

  it('recovers Llama-3 rope scaling from rope_freqs.weight and rejects arbitrary factors', async () => {
    const s = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 };
    const meta: Array<[string, GgufMetadataValue]> = [['llama.rope.freq_base', ggufValue.float32(500000)]];
    // A head dim of 64 spans all three llama3 regimes (factors 1, smooth, 8).
    const f = llama3RopeFactors(64, 500000, s);
    expect(f[0]).toBe(1);
    expect(f[31]).toBe(8);
    expect(Array.from(f).some((x) => x > 1 && x < 8)).toBe(true);
    // Real Llama-3 heads (64+ dims at theta 5e5) reach the full factor in their last pairs.
    const big: ModelConfig = { ...tiny, dim: 128, nHeads: 2, nKvHeads: 1, headDim: 64, ropeDim: 64, ropeTheta: 500000 };
    const ok = await write(
      await tinyGguf('llama', { extraMeta: meta, extraTensors: [{ name: 'rope_freqs.weight', dtype: 'f32', shape: [32], data: encodeF32(f) }] }, big),
    );
    const m = await openModel(ok);
    expect(m.config).toEqual({ ...big, ropeScaling: s });
    expect(m.tensors.has('rope_freqs.weight')).toBe(false);
    await m.close();
    const wrong = Float32Array.from(f, (x, i) => (i === 20 ? x * 1.5 : x));
    const bad = await write(
      await tinyGguf('llama', { extraMeta: meta, extraTensors: [{ name: 'rope_freqs.weight', dtype: 'f32', shape: [32], data: encodeF32(wrong) }] }, big),
    );
    await expect(openModel(bad)).rejects.toThrow(/rope_freqs\.weight does not match Llama-3 rope scaling/);
  });

  it('rejects a truncated GGUF and a file that is neither GGUF nor llama2.c', async () => {
    const bytes = await tinyGguf();
    const p = await write(bytes.subarray(0, bytes.length - 64));
    const err = await openModel(p).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message.startsWith(p)).toBe(true);
    const junk = join(dir, 'junk.bin');
    await writeFile(junk, new TextEncoder().encode('hello, this is not a model at all'));
    const err2 = await openModel(junk).catch((e) => e);
    expect(err2).toBeInstanceOf(ModelFormatError);
    expect(err2.message).toMatch(/not a GGUF file .* and not a valid llama2\.c checkpoint/);
  });

  it('reads tensor values exactly', async () => {
    const bytes = await tinyGguf();
    const m = await openModel(await write(bytes));
    const t = decodeToF32(await m.tensors.get('token_embd.weight')!.load());
    expect(Array.from(t)).toEqual(Array.from(randomF32(32 * 32, 7)));
    await m.close();
  });
});
