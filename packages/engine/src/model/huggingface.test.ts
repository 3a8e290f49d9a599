import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FileAccessError,
  ModelFormatError,
  UnsupportedArchitectureError,
  UnsupportedTensorTypeError,
  decodeToF32,
} from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { openModel } from './node.js';
import { describeModel } from './describe.js';
import { canonicalHfName } from './huggingface.js';
import { encodeSafetensors, tempDir, tinyHfModel, writeHfDir } from './test-support.js';

const hfDir = fixturePath('tinystories-656k');

describe.skipIf(!hfDir)('TinyStories-656K (Hugging Face fixture)', () => {
  it('opens with the exact config', async () => {
    const m = await openModel(hfDir!);
    try {
      expect(m.format).toBe('huggingface');
      expect(m.config).toEqual({
        architecture: 'llama',
        dim: 128,
        nLayers: 2,
        nHeads: 8,
        nKvHeads: 4,
        headDim: 16,
        ffnDim: 384,
        vocabSize: 2048,
        contextLength: 512,
        rmsEps: 1e-6,
        ropeTheta: 10000,
        ropeDim: 16,
        ropeStyle: 'half',
        ropeScaling: null,
        qkvBias: false,
        tiedEmbeddings: true,
      });
      // 1 embedding + 1 final norm + 9 per layer; no output.weight (tied).
      expect(m.tensors.size).toBe(2 + 2 * 9);
      expect(m.tensors.has('output.weight')).toBe(false);
      const q = m.tensors.get('blk.1.attn_q.weight')!;
      expect(q.sourceName).toBe('model.layers.1.self_attn.q_proj.weight');
      expect(q.shape).toEqual([128, 128]);
      expect(m.tensors.get('blk.0.attn_k.weight')!.shape).toEqual([64, 128]);
      expect(m.tensors.get('blk.0.ffn_down.weight')!.shape).toEqual([128, 384]);
      // The file stores only lm_head.weight (embed_tokens is an alias): it becomes token_embd.
      const emb = m.tensors.get('token_embd.weight')!;
      expect(emb.sourceName).toBe('lm_head.weight');
      const t = await emb.load();
      expect(t.name).toBe('token_embd.weight');
      expect(t.shape).toEqual([2048, 128]);
      expect(decodeToF32(t).some((x) => x !== 0)).toBe(true);
      const params = 2048 * 128 + 128 + 2 * (2 * 128 + 128 * 128 * 2 + 64 * 128 * 2 + 3 * 384 * 128);
      expect(m.weightBytes).toBe(4 * params);
      const d = describeModel(m);
      expect(d.parameterCount).toBe(params);
      expect(d.bitsPerWeight).toBe(32);
      expect(d.tokenizer).toMatchObject({ kind: 'huggingface', vocabSize: 2048, bosId: 1, eosId: 2 });
      expect(JSON.parse(JSON.stringify(d))).toEqual(d);
    } finally {
      await m.close();
    }
  });

  it('tokenizes with BOS 1 and decodes back', async () => {
    const m = await openModel(join(hfDir!, 'config.json'));
    try {
      const tok = m.tokenizer!;
      const ids = tok.encode('Once upon a time, there was a cat.', { addBos: true });
      expect(ids[0]).toBe(1);
      expect(tok.decode(ids)).toBe('Once upon a time, there was a cat.');
    } finally {
      await m.close();
    }
  });
});

describe('synthetic Hugging Face directories', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let n = 0;
  const fresh = (): string => join(root, `m${n++}`);
  beforeAll(async () => {
    ({ dir: root, cleanup } = await tempDir());
  });
  afterAll(async () => cleanup());

  it('maps every tensor name and reads values exactly (F32, F16, BF16)', async () => {
    const model = tinyHfModel();
    for (const dtype of ['F32', 'F16', 'BF16']) {
      const dir = fresh();
      await writeHfDir(dir, model, { dtype });
      const m = await openModel(dir);
      try {
        expect(m.config.tiedEmbeddings).toBe(false);
        expect(m.tokenizer).toBeNull();
        for (const [hfName, t] of model.tensors) {
          const name = canonicalHfName(hfName)!;
          const e = m.tensors.get(name)!;
          expect(e.dtype).toBe(dtype.toLowerCase());
          const got = decodeToF32(await e.load());
          const tol = dtype === 'F32' ? 0 : dtype === 'F16' ? 1e-3 : 8e-3;
          for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - t.values[i])).toBeLessThanOrEqual(tol);
        }
      } finally {
        await m.close();
      }
    }
  });

  it('loads a sharded checkpoint lazily and rejects a missing shard', async () => {
    const dir = fresh();
    const model = tinyHfModel();
    await writeHfDir(dir, model, { shards: 3 });
    const m = await openModel(dir);
    expect(m.metadata.sharded).toBe(true);
    expect(m.tensors.get('blk.1.ffn_up.weight')!.sourceName).toMatch(/^model-0000\d-of-00003\.safetensors:model\.layers\.1\.mlp\.up_proj\.weight$/);
    const t = decodeToF32(await m.tensors.get('blk.1.ffn_up.weight')!.load());
    expect(Array.from(t)).toEqual(Array.from(model.tensors.get('model.layers.1.mlp.up_proj.weight')!.values));
    await m.close();
    await rm(join(dir, 'model-00002-of-00003.safetensors'));
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toContain('model-00002-of-00003.safetensors');
  });

  it('rejects an index entry whose tensor is missing from its shard', async () => {
    const dir = fresh();
    await writeHfDir(dir, tinyHfModel(), { shards: 2 });
    const idx = JSON.parse(await readFile(join(dir, 'model.safetensors.index.json'), 'utf8'));
    const k = 'model.layers.0.mlp.up_proj.weight';
    idx.weight_map[k] = idx.weight_map[k].startsWith('model-00001') ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify(idx));
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toMatch(/listed in model\.safetensors\.index\.json but missing/);
  });

  it('rejects an unsupported architecture, listing the supported ones', async () => {
    const dir = fresh();
    await writeHfDir(dir, tinyHfModel({ architecture: 'GPT2LMHeadModel' }));
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedArchitectureError);
    expect(err.message).toContain('GPT2LMHeadModel');
    expect(err.message).toContain('LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM');
    expect(err.message).toContain('config.json');
  });

  const badConfigs: Array<[string, Record<string, unknown>, RegExp]> = [
    ['missing hidden_size', { hidden_size: undefined }, /missing required field 'hidden_size'/],
    ['string layers', { num_hidden_layers: '2' }, /num_hidden_layers' must be a non-negative integer/],
    ['absurd hidden size', { hidden_size: 1e12 }, /hidden size\) must be an integer in 1\.\.65536/],
    ['absurd vocab', { vocab_size: 2 ** 40 }, /vocab size must be an integer/],
    ['absurd context', { max_position_embeddings: 1e15 }, /context length must be an integer/],
    ['zero heads', { num_attention_heads: 0 }, /num_attention_heads must be positive/],
    ['heads not multiple of kv heads', { num_key_value_heads: 3 }, /not a multiple of kv head count 3/],
    ['negative eps', { rms_norm_eps: -1 }, /rms norm epsilon must be a positive/],
    ['NaN-ish theta', { rope_theta: 'big' }, /rope_theta' must be a finite number/],
    ['yarn scaling', { rope_scaling: { type: 'yarn', factor: 4 } }, /unsupported rope_scaling type "yarn"/],
    ['gelu', { hidden_act: 'gelu' }, /unsupported hidden_act "gelu"/],
    ['not an object', { architectures: 'LlamaForCausalLM' }, /'architectures' must be a non-empty array/],
  ];
  for (const [what, patch, re] of badConfigs) {
    it(`rejects config.json with ${what}`, async () => {
      const dir = fresh();
      const model = tinyHfModel();
      for (const [k, v] of Object.entries(patch)) {
        if (v === undefined) delete model.config[k];
        else model.config[k] = v;
      }
      await writeHfDir(dir, model);
      const err = await openModel(dir).catch((e) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect(err.message).toMatch(re);
      expect(err.message).toContain(join(dir, 'config.json'));
    });
  }

  it('rejects invalid JSON in config.json', async () => {
    const dir = fresh();
    await writeHfDir(dir, tinyHfModel());
    await writeFile(join(dir, 'config.json'), '{"hidden_size": 16,');
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toMatch(/config\.json: invalid JSON/);
  });

  it('rejects a missing tensor, naming it', async () => {
    const dir = fresh();
    const model = tinyHfModel();
    model.tensors.delete('model.layers.1.mlp.down_proj.weight');
    await writeHfDir(dir, model);
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain("missing tensor 'blk.1.ffn_down.weight' (expected shape [16, 24])");
  });

  it('rejects a tensor with the wrong shape, naming both shapes', async () => {
    const dir = fresh();
    const model = tinyHfModel();
    const k = model.tensors.get('model.layers.0.self_attn.k_proj.weight')!;
    model.tensors.set('model.layers.0.self_attn.k_proj.weight', { shape: [16, 16], values: new Float32Array(256) });
    expect(k.shape).toEqual([8, 16]);
    await writeHfDir(dir, model);
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain("tensor 'model.layers.0.self_attn.k_proj.weight' (blk.0.attn_k.weight) has shape [16, 16], expected [8, 16]");
  });

  it('rejects an untied model without lm_head.weight', async () => {
    const dir = fresh();
    const model = tinyHfModel();
    model.tensors.delete('lm_head.weight');
    await writeHfDir(dir, model);
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain("missing tensor 'output.weight'");
  });

  it('rejects an unsupported tensor dtype with UnsupportedTensorTypeError', async () => {
    const dir = fresh();
    const model = tinyHfModel();
    await writeHfDir(dir, model);
    const entries = [...model.tensors].map(([name, t]) =>
      name === 'model.norm.weight'
        ? { name, dtype: 'I8', shape: t.shape, data: new Uint8Array(t.shape[0]) }
        : { name, dtype: 'F32', shape: t.shape, data: new Uint8Array(t.values.buffer.slice(0)) },
    );
    await writeFile(join(dir, 'model.safetensors'), encodeSafetensors(entries));
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(UnsupportedTensorTypeError);
    expect(err.message).toContain("'model.norm.weight'");
    expect(err.message).toContain('I8');
  });

  it('rejects a truncated safetensors file', async () => {
    const dir = fresh();
    await writeHfDir(dir, tinyHfModel());
    const bytes = await readFile(join(dir, 'model.safetensors'));
    await writeFile(join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(ModelFormatError);
    expect(err.message).toContain('model.safetensors');
  });

  it('reports a directory without weights', async () => {
    const dir = fresh();
    await writeHfDir(dir, tinyHfModel());
    await rm(join(dir, 'model.safetensors'));
    const err = await openModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(FileAccessError);
    expect(err.message).toContain('no model.safetensors or model.safetensors.index.json');
  });

  it('opens Qwen2 with q/k/v biases and Mistral with a recorded sliding window', async () => {
    const qdir = fresh();
    await writeHfDir(qdir, tinyHfModel({ architecture: 'Qwen2ForCausalLM', bias: true, tied: true }));
    const q = await openModel(qdir);
    expect(q.config).toMatchObject({ architecture: 'qwen2', qkvBias: true, tiedEmbeddings: true, ropeStyle: 'half' });
    expect(q.tensors.get('blk.1.attn_k.bias')!.shape).toEqual([8]);
    await q.close();

    const qdir2 = fresh();
    await writeHfDir(qdir2, tinyHfModel({ architecture: 'Qwen2ForCausalLM', bias: false }));
    await expect(openModel(qdir2)).rejects.toThrow(/q_proj\.bias/);

    const mdir = fresh();
    await writeHfDir(mdir, tinyHfModel({ architecture: 'MistralForCausalLM', config: { sliding_window: 4096, head_dim: 4 } }));
    const m = await openModel(mdir);
    expect(m.config.architecture).toBe('mistral');
    expect(m.metadata.slidingWindow).toBe(4096);
    expect((m.metadata.notes as string[]).join(' ')).toMatch(/full causal attention/);
    await m.close();
  });

  it('parses llama3 and linear rope scaling', async () => {
    const dir = fresh();
    const rs = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    await writeHfDir(dir, tinyHfModel({ config: { rope_scaling: rs, rope_theta: 500000 } }));
    const m = await openModel(dir);
    expect(m.config.ropeScaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 });
    expect(m.config.ropeTheta).toBe(500000);
    await m.close();
    const dir2 = fresh();
    await writeHfDir(dir2, tinyHfModel({ config: { rope_scaling: { type: 'linear', factor: 2 } } }));
    const m2 = await openModel(dir2);
    expect(m2.config.ropeScaling).toEqual({ type: 'linear', factor: 2 });
    await m2.close();
  });
});
