import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFile, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileAccessError, ModelFormatError } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { openModel } from './node.js';
import { STORIES260K_CONFIG, randomF32, tempDir } from './test-support.js';

const binPath = fixturePath('stories260K/stories260K.bin');
const tokPath = fixturePath('stories260K/tok512.bin');
const ggufPath = fixturePath('stories260K/stories260K.gguf');
const devText = fixturePath('text/tinystories-dev.txt');

describe.skipIf(!binPath || !tokPath || !ggufPath)('stories260K.bin (llama2.c)', () => {
  it('opens with the same config as the GGUF (except context length and the shared classifier)', async () => {
    const m = await openModel(binPath!, { tokenizerPath: tokPath! });
    try {
      expect(m.format).toBe('llama2c');
      expect(m.config).toEqual({ ...STORIES260K_CONFIG, contextLength: 512, tiedEmbeddings: true, rmsEps: 1e-5 });
      expect(m.tensors.get('blk.2.ffn_gate.weight')!.sourceName).toBe('w1[2]');
      expect(m.tensors.get('blk.2.ffn_down.weight')!.shape).toEqual([64, 172]);
      expect(m.tokenizer).toMatchObject({ vocabSize: 512, bosId: 1, eosId: 2 });
      expect(m.metadata.tokenizerPath).toBe(tokPath);
    } finally {
      await m.close();
    }
  });

  /*
   * Finding: the llama2.c checkpoint and the GGUF hold byte-identical tensors,
   * Q and K included. llama2.c trains and runs with adjacent-pair RoPE
   * (model.py's complex view / run.c's pairwise loop), and llama.cpp's `llama`
   * architecture also rotates adjacent pairs; convert_llama2c_to_ggml copies
   * weights without permuting (only Hugging Face checkpoints, which rotate
   * halves, are permuted on conversion). So no permutation separates them.
   */
  it('every tensor equals the GGUF one byte for byte (no Q/K permutation between them)', async () => {
    const a = await openModel(binPath!, { tokenizerPath: tokPath! });
    const b = await openModel(ggufPath!);
    try {
      for (const [name, e] of a.tensors) {
        const g = b.tensors.get(name)!;
        expect(g, name).toBeDefined();
        expect(e.shape).toEqual(g.shape);
        const [x, y] = await Promise.all([e.load(), g.load()]);
        expect(x.name).toBe(name);
        expect(Buffer.from(x.data).equals(Buffer.from(y.data)), name).toBe(true);
      }
      // The GGUF's separate output.weight is the shared classifier.
      const out = await b.tensors.get('output.weight')!.load();
      const emb = await a.tensors.get('token_embd.weight')!.load();
      expect(Buffer.from(out.data).equals(Buffer.from(emb.data))).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it.skipIf(!devText)('tokenizes dev text exactly like the GGUF tokenizer', async () => {
    const a = await openModel(binPath!, { tokenizerPath: tokPath! });
    const b = await openModel(ggufPath!);
    try {
      const text = (await readFile(devText!, 'utf8')).slice(0, 20000);
      const x = a.tokenizer!.encode(text, { addBos: true });
      expect(x.length).toBeGreaterThan(3000);
      expect(x).toEqual(b.tokenizer!.encode(text, { addBos: true }));
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  describe('tokenizer discovery and errors', () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    beforeAll(async () => {
      ({ dir, cleanup } = await tempDir());
    });
    afterAll(async () => cleanup());

    it('finds tok{vocab}.bin beside the checkpoint', async () => {
      const m = await openModel(binPath!);
      expect(m.tokenizer).not.toBeNull();
      expect(m.metadata.tokenizerPath).toMatch(/tok512\.bin$/);
      await m.close();
    });

    it('opens without a tokenizer when none is beside it', async () => {
      const p = join(dir, 'model.bin');
      await symlink(binPath!, p).catch(() => copyFile(binPath!, p));
      const m = await openModel(p);
      expect(m.tokenizer).toBeNull();
      expect((m.metadata.notes as string[])[0]).toMatch(/tokenizerPath/);
      await m.close();
    });

    it('reports a missing tokenizerPath with FileAccessError', async () => {
      const err = await openModel(binPath!, { tokenizerPath: join(dir, 'nope.bin') }).catch((e) => e);
      expect(err).toBeInstanceOf(FileAccessError);
      expect(err.message).toContain('nope.bin');
    });

    it('rejects a truncated checkpoint', async () => {
      const bytes = await readFile(binPath!);
      const p = join(dir, 'trunc.bin');
      await writeFile(p, bytes.subarray(0, bytes.length - 4));
      const err = await openModel(p, { tokenizerPath: tokPath! }).catch((e) => e);
      expect(err).toBeInstanceOf(ModelFormatError);
      expect(err.message).toMatch(/truncated/);
      expect(err.message.startsWith(p)).toBe(true);
    });

    it('rejects a header with absurd values', async () => {
      const bytes = Buffer.from(await readFile(binPath!));
      bytes.writeInt32LE(-5, 8); // n_layers
      const p = join(dir, 'bad.bin');
      await writeFile(p, bytes);
      await expect(openModel(p, { tokenizerPath: tokPath! })).rejects.toThrow(/n_layers = -5 is out of range/);
    });
  });
});

describe('synthetic llama2.c checkpoints', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
  });
  afterAll(async () => cleanup());

  it('maps an unshared classifier (negative vocab size) to output.weight', async () => {
    const [dim, hidden, layers, heads, kv, vocab, seq] = [8, 12, 2, 2, 1, 16, 4];
    const hd = dim / heads;
    const sizes: Array<[string, number]> = [
      ['token_embedding_table', vocab * dim],
      ['rms_att_weight', layers * dim],
      ['wq', layers * dim * dim],
      ['wk', layers * kv * hd * dim],
      ['wv', layers * kv * hd * dim],
      ['wo', layers * dim * dim],
      ['rms_ffn_weight', layers * dim],
      ['w1', layers * hidden * dim],
      ['w2', layers * dim * hidden],
      ['w3', layers * hidden * dim],
      ['rms_final_weight', dim],
      ['freq_cis_real', (seq * hd) / 2],
      ['freq_cis_imag', (seq * hd) / 2],
      ['wcls', vocab * dim],
    ];
    const total = sizes.reduce((a, [, n]) => a + n, 0);
    const floats = randomF32(total, 42);
    const header = new Int32Array([dim, hidden, layers, heads, kv, -vocab, seq]);
    const p = join(dir, 'unshared.bin');
    await writeFile(p, Buffer.concat([Buffer.from(header.buffer), Buffer.from(floats.buffer)]));
    const m = await openModel(p, {});
    expect(m.config).toMatchObject({ dim, nLayers: layers, nHeads: heads, nKvHeads: kv, headDim: hd, ffnDim: hidden, vocabSize: vocab, contextLength: seq, tiedEmbeddings: false });
    expect(m.tokenizer).toBeNull();
    const at = (name: string): number => sizes.slice(0, sizes.findIndex(([n]) => n === name)).reduce((a, [, n]) => a + n, 0);
    const out = await m.tensors.get('output.weight')!.load();
    expect(m.tensors.get('output.weight')!.sourceName).toBe('wcls');
    expect(Array.from(new Float32Array(out.data.slice().buffer))).toEqual(Array.from(floats.subarray(at('wcls'), at('wcls') + vocab * dim)));
    // Layer 1 of w2 (ffn_down): [dim, hidden] right after layer 0's.
    const down = await m.tensors.get('blk.1.ffn_down.weight')!.load();
    expect(down.shape).toEqual([dim, hidden]);
    const off = at('w2') + dim * hidden;
    expect(Array.from(new Float32Array(down.data.slice().buffer))).toEqual(Array.from(floats.subarray(off, off + dim * hidden)));
    await m.close();
  });
});
