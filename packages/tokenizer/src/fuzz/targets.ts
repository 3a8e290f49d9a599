/**
 * Fuzz targets: for each parser (and for encode/decode), a seed corpus, a
 * generator of one mutated input from a seeded PRNG, and `run`, which feeds
 * the input through everything a loader does with such a file. `run` must
 * resolve or throw a BitexitError; anything else is a finding. Inputs are
 * plain bytes, so a failing case is saved as a file and replayed alone.
 */
import { readFileSync } from 'node:fs';
import {
  decodeBx,
  decodeToF32,
  dequantizeBx,
  encodeBx,
  encodeF16,
  encodeF32,
  encodeBf16,
  encodeGguf,
  encodeQ8_0,
  encodeSafetensors,
  ggufValue,
  MemoryByteSource,
  parseBx,
  randomBxMatrix,
  readGguf,
  readLlama2cCheckpoint,
  readLlama2cTokenizer,
  readSafetensors,
} from '@bitexit/format';
import type { GgufMetadataValue } from '@bitexit/format';
import { fixturePath } from '@bitexit/format/node';
import { HuggingFaceTokenizer } from '../hf.js';
import { SentencePieceTokenizer } from '../spm.js';
import { tokenizerFromGguf } from '../gguf.js';
import type { Tokenizer } from '../tokenizer.js';
import { syntheticByteLevelTokenizer } from '../test/synthetic.js';
import { hostileGgufValue, int, mutateBytes, mutateJson, pick, type Rand } from './mutators.js';

export interface TargetState {
  /** One mutated input. */
  generate(r: Rand): Promise<Uint8Array>;
  /** Resolves, or throws a BitexitError; anything else is a finding. */
  run(input: Uint8Array): Promise<void>;
  /** Seeds that were left out (missing fixtures), for the report. */
  notes: string[];
}

export interface FuzzTarget {
  name: string;
  what: string;
  setup(): Promise<TargetState>;
}

/** A property of the output was violated (not a typed error: counts as a finding). */
export class PropertyViolation extends Error {}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
const SAMPLE = 'Once upon a time, Lily said: "ünïcödé 日本 🙂" <|start_story|> <s>\n\t  end';

function fixtureBytes(rel: string, notes: string[]): Uint8Array | null {
  const p = fixturePath(rel);
  if (!p) {
    notes.push(`fixture ${rel} missing: its seed is left out`);
    return null;
  }
  return new Uint8Array(readFileSync(p));
}

/** Walks a built tokenizer through encode, decode and streaming, checking ids stay in range. */
export function exercise(t: Tokenizer, r: Rand, text = SAMPLE): void {
  const ids = t.encode(text, { addBos: r() < 0.5, parseSpecial: r() < 0.5 });
  for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < t.vocabSize)) throw new PropertyViolation(`encode returned id ${id} outside 0..${t.vocabSize - 1}`);
  t.decode(ids);
  const random = Array.from({ length: 40 }, () => (r() < 0.1 ? -1 : int(r, t.vocabSize + 5)));
  t.decode(random, { keepSpecial: true });
  const d = t.createStreamDecoder({ prefix: ids.slice(0, 2) });
  for (const id of random) d.push(id);
  d.flush();
  if (ids.length > 0) t.idToPiece(ids[0]!);
}

// ---------------------------------------------------------------- binary formats

function syntheticGguf(): Promise<Uint8Array> {
  const f = (n: number, k = 1) => new Float32Array(n).map((_, i) => Math.sin(i * k) * 3);
  return encodeGguf({
    metadata: [
      ['general.architecture', ggufValue.string('llama')],
      ['general.alignment', ggufValue.uint32(32)],
      ['llama.context_length', ggufValue.uint32(64)],
      ['some.f32', ggufValue.float32(1.5)],
      ['some.u64', ggufValue.uint64(7n)],
      ['some.bool', ggufValue.bool(true)],
      ['tokenizer.ggml.tokens', ggufValue.strings(['<unk>', '<s>', '</s>', '▁a', 'b'])],
      ['some.nested', ggufValue.arrays([ggufValue.numbers('int16', [1, -2]), ggufValue.strings(['x'])])],
    ],
    tensors: [
      { name: 'a.f32', dtype: 'f32', shape: [3, 5], data: encodeF32(f(15)) },
      { name: 'b.f16', dtype: 'f16', shape: [7], data: encodeF16(f(7, 2)) },
      { name: 'c.bf16', dtype: 'bf16', shape: [2, 2, 3], data: encodeBf16(f(12, 3)) },
      { name: 'd.q8_0', dtype: 'q8_0', shape: [2, 64], data: encodeQ8_0(f(128, 4), [2, 64]) },
      { name: 'e.q4k', dtype: 'f32', ggmlType: 12, shape: [1, 256], data: new Uint8Array(144).fill(0x11) },
    ],
  });
}

const ggufTarget: FuzzTarget = {
  name: 'gguf',
  what: 'GGUF header, metadata, tensor infos and tensor reads (readGguf, readTensor, decodeToF32)',
  async setup() {
    const notes: string[] = [];
    const seeds = [await syntheticGguf()];
    return {
      notes,
      generate: async (r) => mutateBytes(pick(r, seeds), r, 1200),
      run: async (input) => {
        const g = await readGguf(new MemoryByteSource('fuzz.gguf', input), { chunkSize: 256 });
        for (const t of g.tensors) {
          const raw = await g.readTensorBytes(t);
          if (raw.byteLength !== t.byteLength) throw new PropertyViolation(`tensor ${t.name}: read ${raw.byteLength} of ${t.byteLength} bytes`);
          if (t.dtype) decodeToF32(await g.readTensor(t));
        }
      },
    };
  },
};

const safetensorsTarget: FuzzTarget = {
  name: 'safetensors',
  what: 'safetensors header JSON, dtypes, shapes, offsets and tensor reads',
  async setup() {
    const f = (n: number) => new Float32Array(n).map((_, i) => Math.cos(i) * 2);
    const seed = encodeSafetensors(
      [
        { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 3], data: encodeF32(f(12)) },
        { name: 'model.norm.weight', dtype: 'F16', shape: [3], data: encodeF16(f(3)) },
        { name: 'lm_head.weight', dtype: 'BF16', shape: [2, 3], data: encodeBf16(f(6)) },
        { name: 'int.bias', dtype: 'I8', shape: [5], data: new Uint8Array([1, 2, 3, 4, 5]) },
      ],
      { format: 'pt' },
    );
    const headerEnd = 8 + Number(new DataView(seed.buffer).getBigUint64(0, true));
    return {
      notes: [],
      generate: async (r) => mutateBytes(seed, r, headerEnd),
      run: async (input) => {
        const st = await readSafetensors(new MemoryByteSource('fuzz.safetensors', input));
        for (const t of st.tensors) {
          await st.readTensorBytes(t.name);
          if (['F32', 'F16', 'BF16'].includes(t.dtype)) decodeToF32(await st.readTensor(t.name));
        }
      },
    };
  },
};

/** A tiny llama2.c v0 checkpoint (unshared classifier, so wcls exists too). */
function syntheticCheckpoint(): Uint8Array {
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = [8, 16, 2, 2, 1, 12, 4];
  const kv = (dim * kvHeads) / heads;
  const head = dim / heads;
  const floats =
    vocab * dim +
    layers * (dim + dim * dim + 2 * kv * dim + dim * dim + dim + 3 * hidden * dim) +
    dim +
    seqLen * head +
    vocab * dim;
  const out = new Uint8Array(28 + 4 * floats);
  const dv = new DataView(out.buffer);
  [dim, hidden, layers, heads, kvHeads, -vocab, seqLen].forEach((v, i) => dv.setInt32(i * 4, v, true));
  for (let i = 0; i < floats; i++) dv.setFloat32(28 + 4 * i, Math.sin(i), true);
  return out;
}

const checkpointTarget: FuzzTarget = {
  name: 'llama2c-checkpoint',
  what: 'llama2.c v0 checkpoint header and tensor reads',
  async setup() {
    const seed = syntheticCheckpoint();
    await readLlama2cCheckpoint(new MemoryByteSource('seed.bin', seed)); // the seed itself must parse
    return {
      notes: [],
      generate: async (r) => mutateBytes(seed, r, 28),
      run: async (input) => {
        const c = await readLlama2cCheckpoint(new MemoryByteSource('fuzz.bin', input));
        for (const t of c.tensors) {
          decodeToF32(await c.readTensor(t.name));
          if (t.perLayer) decodeToF32(await c.readLayerTensor(t.name, c.config.nLayers - 1));
        }
      },
    };
  },
};

function syntheticTokenizerBin(): Uint8Array {
  const pieces = ['<unk>', '\n<s>\n', '\n</s>\n', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), ' ', 'a', 'b', ' a', 'ab', ' ab'];
  const parts: number[] = [];
  const i32 = (v: number) => parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  i32(16);
  pieces.forEach((p, i) => {
    const f = new Uint8Array(new Float32Array([-i]).buffer);
    parts.push(...f);
    const b = utf8.encode(p);
    i32(b.length);
    parts.push(...b);
  });
  return Uint8Array.from(parts);
}

const tokenizerBinTarget: FuzzTarget = {
  name: 'llama2c-tokenizer',
  what: 'llama2.c tokenizer.bin, then SentencePieceTokenizer.fromLlama2c and encode/decode',
  async setup() {
    const notes: string[] = [];
    const seeds: Array<{ bytes: Uint8Array; vocab: number }> = [{ bytes: syntheticTokenizerBin(), vocab: 262 }];
    const tok512 = fixtureBytes('stories260K/tok512.bin', notes);
    if (tok512) seeds.push({ bytes: tok512, vocab: 512 });
    return {
      notes,
      // First 4 bytes: the vocabulary size the loader is told (from the checkpoint header), then the file.
      generate: async (r) => {
        const s = pick(r, seeds);
        const file = mutateBytes(s.bytes, r, 64);
        const out = new Uint8Array(4 + file.length);
        new DataView(out.buffer).setInt32(0, r() < 0.8 ? s.vocab : pick(r, [0, -1, 1, s.vocab + 1, 2 ** 31 - 1]), true);
        out.set(file, 4);
        return out;
      },
      run: async (input) => {
        if (input.length < 4) return;
        const vocab = new DataView(input.buffer, input.byteOffset).getInt32(0, true);
        const data = await readLlama2cTokenizer(new MemoryByteSource('fuzz-tokenizer.bin', input.subarray(4)), vocab);
        const t = SentencePieceTokenizer.fromLlama2c(data, { source: 'fuzz-tokenizer.bin' });
        exercise(t, () => 0.25);
      },
    };
  },
};

const bxTarget: FuzzTarget = {
  name: 'bx',
  what: 'bx blobs (parseBx, dequantizeBx, decodeBx): values must stay finite',
  async setup() {
    const seeds = [
      encodeBx(randomBxMatrix({ rows: 5, cols: 100, outliers: 7, seed: 21 })),
      encodeBx(randomBxMatrix({ rows: 6, cols: 130, groupSize: 32, secondOrder: true, scaleBits: 5, superGroup: { rows: 4, groups: 2 }, outliers: 4, seed: 22 })),
      encodeBx(randomBxMatrix({ rows: 3, cols: 64, randomWidths: true, seed: 23 })),
    ];
    return {
      notes: [],
      generate: async (r) => mutateBytes(pick(r, seeds), r, 128),
      run: async (input) => {
        const view = parseBx(input, 'fuzz.bx');
        const w = dequantizeBx(view);
        for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) throw new PropertyViolation(`non-finite weight ${w[i]} at ${i}`);
        decodeBx(view);
      },
    };
  },
};

// ---------------------------------------------------------------- tokenizers

type Doc = Record<string, unknown>;

function metaspaceDoc(): Doc {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2, '▁': 3, H: 4, e: 5, l: 6, o: 7, '▁H': 8, ll: 9, '▁He': 10 };
  return {
    version: '1.0',
    added_tokens: [
      { id: 0, content: '<unk>', special: true },
      { id: 1, content: '<s>', special: true },
      { id: 2, content: '</s>', special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: false, vocab, merges: ['▁ H', 'l l', '▁H e'] },
  };
}

function wordPieceDoc(): Doc {
  return {
    added_tokens: [{ id: 0, content: '[UNK]', special: true }],
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, once: 1, upon: 2, a: 3, time: 4, '##s': 5, ',': 6 } },
  };
}

function unigramDoc(): Doc {
  return {
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' }] },
    decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always' },
    model: { type: 'Unigram', unk_id: 0, vocab: [['<unk>', 0], ['▁', -1], ['▁Once', -2], ['▁upon', -2.5], ['a', -3], ['e', -3], ['n', -3.2], ['o', -3.3]] },
  };
}

function tokenizerSeeds(notes: string[]): Array<{ json: Doc; config: Doc }> {
  const seeds: Array<{ json: Doc; config: Doc }> = [
    syntheticByteLevelTokenizer('llama3'),
    syntheticByteLevelTokenizer('qwen2'),
    syntheticByteLevelTokenizer('gpt2'),
    { json: metaspaceDoc(), config: { bos_token: '<s>', eos_token: '</s>', add_bos_token: true } },
    { json: wordPieceDoc(), config: {} },
    { json: unigramDoc(), config: { eos_token: { content: '</s>' } } },
  ];
  const ts = fixtureBytes('tinystories-656k/tokenizer.json', notes);
  const tsc = fixtureBytes('tinystories-656k/tokenizer_config.json', notes);
  if (ts && tsc) seeds.push({ json: JSON.parse(utf8Decoder.decode(ts)) as Doc, config: JSON.parse(utf8Decoder.decode(tsc)) as Doc });
  return seeds;
}

const tokenizerJsonTarget: FuzzTarget = {
  name: 'tokenizer-json',
  what: 'tokenizer.json + tokenizer_config.json (HuggingFaceTokenizer.fromJSON, then encode/decode/stream)',
  async setup() {
    const notes: string[] = [];
    const seeds = tokenizerSeeds(notes);
    return {
      notes,
      // Input: the JSON text of { tokenizer, config }; structural mutations, sometimes byte damage of the text.
      generate: async (r) => {
        const s = pick(r, seeds);
        let json: unknown = s.json;
        let config: unknown = s.config;
        const n = 1 + int(r, 3);
        for (let k = 0; k < n; k++) {
          if (r() < 0.85) json = mutateJson(json, r);
          else config = mutateJson(config, r);
        }
        const text = utf8.encode(JSON.stringify({ tokenizer: json, config }));
        return r() < 0.1 ? mutateBytes(text, r) : text;
      },
      run: async (input) => {
        let doc: { tokenizer?: unknown; config?: unknown };
        try {
          doc = JSON.parse(utf8Decoder.decode(input)) as typeof doc;
        } catch {
          return; // not JSON: the loader's ModelFormatError (engine), nothing reaches the tokenizer
        }
        if (typeof doc !== 'object' || doc === null) return;
        exercise(HuggingFaceTokenizer.fromJSON(doc.tokenizer, doc.config, { source: 'fuzz-tokenizer.json' }), () => 0.3);
      },
    };
  },
};

type Meta = Array<[string, GgufMetadataValue]>;

const ggufVocabTarget: FuzzTarget = {
  name: 'gguf-vocab',
  what: "GGUF tokenizer metadata ('llama', 'gpt2', embedded tokenizer.huggingface.json) through tokenizerFromGguf",
  async setup() {
    const notes: string[] = [];
    const bases: Meta[] = [];
    const g = fixtureBytes('stories260K/stories260K.gguf', notes);
    if (g) {
      const file = await readGguf(new MemoryByteSource('stories260K.gguf', g));
      bases.push([...file.metadata].filter(([k]) => k.startsWith('tokenizer.')));
    }
    const { json } = syntheticByteLevelTokenizer('llama3');
    const model = json.model as { vocab: Record<string, number>; merges: Array<[string, string]> };
    const tokens: string[] = [];
    for (const [t, id] of Object.entries(model.vocab)) tokens[id] = t;
    bases.push([
      ['tokenizer.ggml.model', ggufValue.string('gpt2')],
      ['tokenizer.ggml.pre', ggufValue.string('llama-bpe')],
      ['tokenizer.ggml.tokens', ggufValue.strings(tokens)],
      ['tokenizer.ggml.token_type', ggufValue.numbers('int32', tokens.map((_, i) => (i < 2 ? 3 : 1)))],
      ['tokenizer.ggml.merges', ggufValue.strings(model.merges.map(([a, b]) => `${a} ${b}`))],
      ['tokenizer.ggml.bos_token_id', ggufValue.uint32(0)],
      ['tokenizer.ggml.eos_token_id', ggufValue.uint32(1)],
    ]);
    const spmTokens = ['<unk>', '<s>', '</s>', '▁', 'a', 'b', '▁a', 'ab', '<0x41>'];
    bases.push([
      ['tokenizer.ggml.model', ggufValue.string('llama')],
      ['tokenizer.ggml.tokens', ggufValue.strings(spmTokens)],
      ['tokenizer.ggml.scores', ggufValue.numbers('float32', spmTokens.map((_, i) => -i))],
      ['tokenizer.ggml.token_type', ggufValue.numbers('int32', spmTokens.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i === 8 ? 6 : 1)))],
      ['tokenizer.ggml.bos_token_id', ggufValue.uint32(1)],
      ['tokenizer.ggml.eos_token_id', ggufValue.uint32(2)],
    ]);
    const embedded = tokenizerSeeds(notes).map((s) => s.json);
    return {
      notes,
      generate: async (r) => {
        let meta: Meta;
        if (r() < 0.3) {
          const doc = r() < 0.8 ? mutateJson(pick(r, embedded), r) : pick(r, embedded);
          meta = [['tokenizer.huggingface.json', ggufValue.string(JSON.stringify(doc))]];
          if (r() < 0.5) meta.push(['tokenizer.ggml.eos_token_id', ggufValue.uint32(int(r, 600))]);
          if (r() < 0.3) meta.push(['tokenizer.ggml.tokens', ggufValue.strings(Array.from({ length: 1 + int(r, 600) }, (_, i) => `t${i}`))]);
        } else {
          meta = pick(r, bases);
          const n = (meta.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as unknown[]).length;
          const keys = [...meta.map(([k]) => k), 'tokenizer.ggml.eot_token_id', 'tokenizer.ggml.unknown_token_id', 'tokenizer.ggml.add_bos_token', 'tokenizer.huggingface.json'];
          for (let m = 0; m < 1 + int(r, 3); m++) {
            const key = pick(r, keys);
            const v = key === 'tokenizer.huggingface.json' ? ggufValue.string(JSON.stringify(mutateJson(pick(r, embedded), r))) : hostileGgufValue(r, n);
            meta = meta.filter(([k]) => k !== key);
            if (v !== null) meta.push([key, v]);
          }
        }
        const bytes = await encodeGguf({ metadata: meta, tensors: [] });
        return r() < 0.15 ? mutateBytes(bytes, r, 256) : bytes;
      },
      run: async (input) => {
        const file = await readGguf(new MemoryByteSource('fuzz-vocab.gguf', input));
        exercise(tokenizerFromGguf(file), () => 0.6);
      },
    };
  },
};

/** Working tokenizers to feed random text and ids. */
async function baseTokenizers(notes: string[]): Promise<Tokenizer[]> {
  const out: Tokenizer[] = [
    HuggingFaceTokenizer.fromJSON(syntheticByteLevelTokenizer('llama3').json, syntheticByteLevelTokenizer('llama3').config),
    HuggingFaceTokenizer.fromJSON(metaspaceDoc(), { bos_token: '<s>' }),
    HuggingFaceTokenizer.fromJSON(wordPieceDoc()),
    HuggingFaceTokenizer.fromJSON(unigramDoc()),
  ];
  const g = fixtureBytes('stories260K/stories260K.gguf', notes);
  if (g) out.push(tokenizerFromGguf(await readGguf(new MemoryByteSource('stories260K.gguf', g))));
  const tok = fixtureBytes('stories260K/tok512.bin', notes);
  if (tok) out.push(SentencePieceTokenizer.fromLlama2c(await readLlama2cTokenizer(new MemoryByteSource('tok512.bin', tok), 512)));
  const ts = fixtureBytes('tinystories-656k/tokenizer.json', notes);
  if (ts) out.push(HuggingFaceTokenizer.fromJSON(JSON.parse(utf8Decoder.decode(ts))));
  return out;
}

const TEXT_PIECES = [' ', '  ', '\n', '\t', '▁', 'Ġ', '<s>', '</s>', '<|begin_of_text|>', '<|start_story|>', '<unk>', '<0x41>', 'Once upon', '日本', '🙂', '\u0000', '\ud800', '\udc00', 'é', 'e\u0301', 'ﷺ', 'İ', "'s", '123456'];

const encodeTarget: FuzzTarget = {
  name: 'encode',
  what: 'encode of random text (UTF-16 code units: lone surrogates included) on working tokenizers; ids must be in range',
  async setup() {
    const notes: string[] = [];
    const toks = await baseTokenizers(notes);
    return {
      notes,
      // Input: byte 0 picks the tokenizer, byte 1 the flags, then the text as UTF-16LE code units.
      generate: async (r) => {
        let text = '';
        const len = r() < 0.05 ? int(r, 20_000) : int(r, 200);
        while (text.length < len) {
          const roll = r();
          if (roll < 0.3) text += String.fromCharCode(int(r, 0x10000));
          else if (roll < 0.6) text += String.fromCharCode(0x20 + int(r, 95));
          else if (roll < 0.9) text += pick(r, TEXT_PIECES);
          else text += pick(r, TEXT_PIECES).repeat(1 + int(r, 300));
        }
        const out = new Uint8Array(2 + 2 * text.length);
        out[0] = int(r, toks.length);
        out[1] = int(r, 256);
        for (let i = 0; i < text.length; i++) {
          out[2 + 2 * i] = text.charCodeAt(i) & 0xff;
          out[3 + 2 * i] = text.charCodeAt(i) >> 8;
        }
        return out;
      },
      run: async (input) => {
        if (input.length < 2) return;
        const t = toks[input[0]! % toks.length]!;
        let text = '';
        for (let i = 2; i + 1 < input.length; i += 2) text += String.fromCharCode(input[i]! | (input[i + 1]! << 8));
        const ids = t.encode(text, { addBos: (input[1]! & 1) === 1, parseSpecial: (input[1]! & 2) === 2 });
        for (const id of ids) if (!(Number.isInteger(id) && id >= 0 && id < t.vocabSize)) throw new PropertyViolation(`encode returned id ${id}`);
        t.decode(ids);
      },
    };
  },
};

const decodeTarget: FuzzTarget = {
  name: 'decode',
  what: 'decode and stream decoding of random ids (in range, negative, huge); streamed text must equal decode',
  async setup() {
    const notes: string[] = [];
    const toks = await baseTokenizers(notes);
    return {
      notes,
      // Input: byte 0 picks the tokenizer, byte 1 the flags, then int32 LE ids.
      generate: async (r) => {
        const t = int(r, toks.length);
        const n = r() < 0.05 ? int(r, 5000) : int(r, 100);
        const out = new Uint8Array(2 + 4 * n);
        const dv = new DataView(out.buffer);
        out[0] = t;
        out[1] = int(r, 256);
        const v = toks[t]!.vocabSize;
        for (let i = 0; i < n; i++) dv.setInt32(2 + 4 * i, r() < 0.95 ? int(r, v) : pick(r, [-1, v, v + 1, 2 ** 31 - 1, -(2 ** 31)]), true);
        return out;
      },
      run: async (input) => {
        if (input.length < 2) return;
        const t = toks[input[0]! % toks.length]!;
        const keepSpecial = (input[1]! & 1) === 1;
        const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
        const ids: number[] = [];
        for (let i = 2; i + 3 < input.length; i += 4) ids.push(dv.getInt32(i, true));
        const whole = t.decode(ids, { keepSpecial });
        const d = t.createStreamDecoder({ keepSpecial });
        let streamed = '';
        for (const id of ids) streamed += d.push(id);
        streamed += d.flush();
        if (streamed !== whole) throw new PropertyViolation(`streamed text differs from decode: ${JSON.stringify(streamed.slice(0, 80))} vs ${JSON.stringify(whole.slice(0, 80))}`);
        const cut = ids.length >> 1;
        const cont = t.createStreamDecoder({ keepSpecial, prefix: ids.slice(0, cut) });
        for (const id of ids.slice(cut)) cont.push(id);
        cont.flush();
        for (const id of ids.slice(0, 8)) t.idToPiece(id);
      },
    };
  },
};

// ---------------------------------------------------------------- watchdog self-test targets (tests only)

const selfTestTargets: FuzzTarget[] = [
  {
    name: 'selftest-hang',
    what: 'case 5 never ends (the watchdog must kill the worker and go on)',
    async setup() {
      return {
        notes: [],
        generate: async (r) => Uint8Array.of(int(r, 256)),
        run: async (input) => {
          if (input.length === 1 && input[0] === 0xff) for (;;);
        },
      };
    },
  },
  {
    name: 'selftest-oom',
    what: 'an input keeps allocating (the heap limit must stop it)',
    async setup() {
      return {
        notes: [],
        generate: async (r) => Uint8Array.of(int(r, 256)),
        run: async (input) => {
          if (input[0] !== 0xff) return;
          const hold: number[][] = [];
          for (;;) hold.push(new Array(1 << 20).fill(1.5));
        },
      };
    },
  },
  {
    name: 'selftest-untyped',
    what: 'some inputs throw a TypeError',
    async setup() {
      return {
        notes: [],
        generate: async (r) => Uint8Array.of(int(r, 256)),
        run: async (input) => {
          if (input[0]! < 8) (null as unknown as { x: number }).x;
        },
      };
    },
  },
];

export const TARGETS: readonly FuzzTarget[] = [
  ggufTarget,
  safetensorsTarget,
  checkpointTarget,
  tokenizerBinTarget,
  bxTarget,
  tokenizerJsonTarget,
  ggufVocabTarget,
  encodeTarget,
  decodeTarget,
];

export function findTarget(name: string): FuzzTarget {
  const t = [...TARGETS, ...selfTestTargets].find((x) => x.name === name);
  if (!t) throw new Error(`unknown fuzz target '${name}' (known: ${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}
