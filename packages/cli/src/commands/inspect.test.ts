import { describe, expect, it } from 'vitest';
import { GGUF, LLAMA2C_BIN, TOK512, runCli } from '../test-helpers.js';
import type { InspectJson } from './inspect.js';

describe.skipIf(!GGUF)('bitexit inspect', () => {
  it('--json describes the stories260K GGUF', async () => {
    const r = await runCli(['inspect', GGUF!, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as InspectJson;
    expect(d.format).toBe('gguf');
    expect(d.config).toMatchObject({ architecture: 'llama', dim: 64, nLayers: 5, nHeads: 8, nKvHeads: 4, ffnDim: 172, vocabSize: 512 });
    // 5 blocks x 9 tensors + token_embd, output_norm and output (this file stores the classifier).
    expect(d.tensors.length).toBe(5 * 9 + 3);
    expect(d.tensors.map((t) => t.name)).toContain('output.weight');
    expect(Object.keys(d.dtypes)).toEqual(['f32']);
    expect(d.bitsPerWeight).toBe(32);
    expect(d.tensorCount).toBe(d.tensors.length);
    const emb = d.tensors.find((t) => t.name === 'token_embd.weight')!;
    expect(emb.shape).toEqual([512, 64]);
    expect(emb.bytes).toBe(512 * 64 * 4);
    expect(d.parameterCount).toBe(d.tensors.reduce((a, t) => a + t.parameters, 0));
    expect(d.weightBytes).toBe(d.parameterCount * 4);
    expect(d.tokenizer).toMatchObject({ vocabSize: 512, bosId: 1, eosId: 2, hasChatTemplate: false });
    // The vocabulary arrays are summarised, not dumped.
    expect(r.stdout.length).toBeLessThan(20_000);
  });

  it('human output names architecture, sizes, tensors and tokenizer', async () => {
    const r = await runCli(['inspect', GGUF!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/architecture\s+llama/);
    expect(r.stdout).toMatch(/32\.00 bits per weight/);
    expect(r.stdout).toMatch(/dim 64, layers 5, heads 8, kv heads 4/);
    expect(r.stdout).toMatch(/rms eps 0\.00001,/);
    expect(r.stdout).toMatch(/blk\.0\.attn_q\.weight\s+f32\s+\[64, 64\]/);
    expect(r.stdout).toMatch(/tokenizer\s+sentencepiece-bpe, 512 tokens, bos 1, eos 2/);
  });

  it.skipIf(!LLAMA2C_BIN || !TOK512)('reads a llama2.c checkpoint with --tokenizer', async () => {
    const r = await runCli(['inspect', LLAMA2C_BIN!, '--tokenizer', TOK512!, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as InspectJson;
    expect(d.format).toBe('llama2c');
    expect(d.config).toMatchObject({ dim: 64, nLayers: 5, vocabSize: 512, contextLength: 512 });
    expect(d.tokenizer?.vocabSize).toBe(512);
  });
});
