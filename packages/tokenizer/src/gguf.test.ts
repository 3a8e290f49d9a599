import { describe, expect, it } from 'vitest';
import { encodeGguf, ggufValue, MemoryByteSource, ModelFormatError, readGguf } from '@bitexit/format';
import type { GgufMetadataValue } from '@bitexit/format';
import { HuggingFaceTokenizer, SentencePieceTokenizer, tokenizerFromGguf } from './index.js';
import { FIX, loadGguf } from './test/helpers.js';
import { syntheticByteLevelTokenizer, type SyntheticFlavour } from './test/synthetic.js';
import golden from './test/rust-golden.json';

type Meta = Array<[string, GgufMetadataValue]>;

async function gguf(name: string, metadata: Meta) {
  return readGguf(new MemoryByteSource(name, await encodeGguf({ metadata, tensors: [] })));
}

/** A GGUF 'gpt2' vocabulary (as convert_hf_to_gguf.py writes for Llama 3 / Qwen2) made from a synthetic tokenizer.json. */
function gpt2Metadata(flavour: SyntheticFlavour, pre: string | null): Meta {
  const { json } = syntheticByteLevelTokenizer(flavour);
  const model = json.model as { vocab: Record<string, number>; merges: Array<[string, string]> };
  const added = json.added_tokens as Array<{ id: number; content: string; special: boolean }>;
  const n = Object.keys(model.vocab).length + added.length;
  const tokens = new Array<string>(n);
  const types = new Array<number>(n).fill(1);
  for (const [t, id] of Object.entries(model.vocab)) tokens[id] = t;
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  const id = (s: string) => added.find((a) => a.content === s)!.id;
  const meta: Meta = [
    ['tokenizer.ggml.model', ggufValue.string('gpt2')],
    ['tokenizer.ggml.tokens', ggufValue.strings(tokens)],
    ['tokenizer.ggml.token_type', ggufValue.numbers('int32', types)],
    ['tokenizer.ggml.merges', ggufValue.strings(model.merges.map(([a, b]) => `${a} ${b}`))],
    ['tokenizer.ggml.bos_token_id', ggufValue.uint32(id('<|begin_of_text|>'))],
    ['tokenizer.ggml.eos_token_id', ggufValue.uint32(id('<|end_of_text|>'))],
    ['tokenizer.ggml.eot_token_id', ggufValue.uint32(id('<|eot_id|>'))],
    ['tokenizer.chat_template', ggufValue.string('{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}')],
  ];
  if (pre !== null) meta.push(['tokenizer.ggml.pre', ggufValue.string(pre)]);
  return meta;
}

describe.skipIf(!FIX.gguf)('tokenizerFromGguf: SentencePiece', () => {
  it("picks SentencePieceTokenizer for model 'llama'", async () => {
    const t = tokenizerFromGguf(await loadGguf(FIX.gguf!));
    expect(t).toBeInstanceOf(SentencePieceTokenizer);
    expect(t.kind).toBe('sentencepiece-bpe');
    expect(t.encode('Once upon a time')).toEqual([1, 403, 407, 261, 378]);
  });
});

describe('tokenizerFromGguf: byte-level BPE (gpt2)', () => {
  const G = golden as unknown as Record<SyntheticFlavour, Array<{ text: string; parseSpecial: number[]; plain: number[]; decoded: string }>>;

  it.each([
    ['llama3', 'llama-bpe'],
    ['qwen2', 'qwen2'],
    ['gpt2', null],
  ] as const)('%s vocabulary (pre %s) reproduces the Rust ids of the equivalent tokenizer.json', async (flavour, pre) => {
    const t = tokenizerFromGguf(await gguf(`${flavour}.gguf`, gpt2Metadata(flavour, pre)));
    expect(t).toBeInstanceOf(HuggingFaceTokenizer);
    for (const c of G[flavour]) {
      const ids = t.encode(c.text, { addBos: false, parseSpecial: true });
      expect(ids, JSON.stringify(c.text)).toEqual(c.parseSpecial);
      expect(t.encode(c.text, { addBos: false }), JSON.stringify(c.text)).toEqual(c.plain);
      expect(t.decode(ids, { keepSpecial: true })).toBe(c.decoded);
    }
  });

  it('takes BOS/EOS/EOT, add-BOS default and the chat template from the GGUF', async () => {
    const t = tokenizerFromGguf(await gguf('l3.gguf', gpt2Metadata('llama3', 'llama-bpe')));
    expect(t.idToPiece(t.bosId!)).toBe('<|begin_of_text|>');
    expect(t.idToPiece(t.eosId!)).toBe('<|end_of_text|>');
    expect(t.stopIds.map((i) => t.idToPiece(i)).sort()).toEqual(['<|end_of_text|>', '<|eot_id|>']);
    expect(t.encode('Hi')[0]).toBe(t.bosId); // llama.cpp adds BOS for the llama-bpe pre-tokenizer
    expect(t.chatTemplate).toContain('messages');
    expect(t.specialTokens.bos_token).toBe('<|begin_of_text|>');
    const q = tokenizerFromGguf(await gguf('q.gguf', gpt2Metadata('qwen2', 'qwen2')));
    expect(q.encode('Hi')).toEqual(q.encode('Hi', { addBos: false })); // no BOS by default for qwen2
    const forced = tokenizerFromGguf(await gguf('q2.gguf', [...gpt2Metadata('qwen2', 'qwen2'), ['tokenizer.ggml.add_bos_token', ggufValue.bool(true)]]));
    expect(forced.encode('Hi')[0]).toBe(forced.bosId);
  });
});

describe('tokenizerFromGguf: embedded tokenizer.huggingface.json', () => {
  it('prefers the embedded tokenizer.json', async () => {
    const { json } = syntheticByteLevelTokenizer('llama3');
    const t = tokenizerFromGguf(
      await gguf('emb.gguf', [
        ['tokenizer.ggml.model', ggufValue.string('llama')], // ignored: the embedded JSON wins
        ['tokenizer.huggingface.json', ggufValue.string(JSON.stringify(json))],
        ['tokenizer.chat_template', ggufValue.string('{{ messages[0].content }}')],
      ]),
    );
    expect(t).toBeInstanceOf(HuggingFaceTokenizer);
    const c = (golden as unknown as Record<string, Array<{ text: string; parseSpecial: number[] }>>).llama3[0];
    expect(t.encode(c.text, { addBos: false, parseSpecial: true })).toEqual(c.parseSpecial);
    expect(t.chatTemplate).toBe('{{ messages[0].content }}');
  });
});

describe('tokenizerFromGguf errors', () => {
  it('unsupported tokenizer model', async () => {
    const g = await gguf('bert.gguf', [
      ['tokenizer.ggml.model', ggufValue.string('bert')],
      ['tokenizer.ggml.tokens', ggufValue.strings(['a'])],
    ]);
    expect(() => tokenizerFromGguf(g)).toThrow(ModelFormatError);
    expect(() => tokenizerFromGguf(g)).toThrow("bert.gguf: unsupported tokenizer model 'bert' (supported: llama, gpt2)");
  });

  it('missing tokenizer, bad embedded JSON, missing merges, ids out of range', async () => {
    await expect(gguf('none.gguf', [['general.architecture', ggufValue.string('llama')]]).then(tokenizerFromGguf)).rejects.toThrow(/carries no tokenizer/);
    await expect(gguf('bad.gguf', [['tokenizer.huggingface.json', ggufValue.string('{nope')]]).then(tokenizerFromGguf)).rejects.toThrow(
      /tokenizer.huggingface.json is not valid JSON/,
    );
    const noMerges = gpt2Metadata('gpt2', null).filter(([k]) => k !== 'tokenizer.ggml.merges');
    await expect(gguf('nm.gguf', noMerges).then(tokenizerFromGguf)).rejects.toThrow(/tokenizer.ggml.merges is missing/);
    const badBos = gpt2Metadata('gpt2', null).map(([k, v]): [string, GgufMetadataValue] =>
      k === 'tokenizer.ggml.bos_token_id' ? [k, ggufValue.uint32(1_000_000)] : [k, v],
    );
    await expect(gguf('bb.gguf', badBos).then(tokenizerFromGguf)).rejects.toThrow(ModelFormatError);
    const llamaNoScores: Meta = [
      ['tokenizer.ggml.model', ggufValue.string('llama')],
      ['tokenizer.ggml.tokens', ggufValue.strings(['<unk>', '<s>', '</s>'])],
    ];
    await expect(gguf('ns.gguf', llamaNoScores).then(tokenizerFromGguf)).rejects.toThrow(/tokenizer.ggml.scores is missing/);
  });
});
