import { ModelFormatError } from '@bitexit/format';
import type { GgufFile } from '@bitexit/format';
import { BigramHeap } from './heap.js';
import { ByteBuffer, byteStringToBytes, bytesToByteString, parseByteToken, utf8ByteString, utf8SequenceLength, Utf8Stream } from './bytes.js';
import type { StreamDecoder, StreamDecoderOptions, Tokenizer } from './tokenizer.js';
import { stopIdsFromPieces } from './special.js';
import { checkId, checkIds, checkText } from './args.js';
import { PatternSet } from './patterns.js';

/** GGUF `tokenizer.ggml.token_type` values (llama_token_type). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** Everything a SentencePiece-BPE vocabulary is made of. */
export interface SentencePieceVocabSpec {
  /** Name used in error messages (file path). */
  source?: string;
  /** Pieces: strings are text (GGUF), Uint8Array raw bytes (llama2.c tokenizer.bin). */
  pieces: ReadonlyArray<string | Uint8Array>;
  scores: ArrayLike<number>;
  /** Token types (see TokenType); inferred (unknown/control/byte/normal) when absent. */
  types?: ArrayLike<number> | null;
  bosId?: number | null;
  eosId?: number | null;
  unkId?: number | null;
  padId?: number | null;
  /** Prepend BOS by default (GGUF add_bos_token; default true). */
  addBos?: boolean;
  /** Append EOS by default (GGUF add_eos_token; default false). */
  addEos?: boolean;
  /** SentencePiece dummy prefix: a space before text at the start and after special tokens (default true). */
  addSpacePrefix?: boolean;
  /** How the vocabulary writes a space: '▁' (U+2581, SentencePiece/GGUF) or ' ' (llama2.c tokenizer.bin). Default '▁'. */
  spaceMarker?: '▁' | ' ';
  chatTemplate?: string | null;
  /** More ids that end generation (besides EOS). */
  extraStopIds?: readonly number[];
}

const SPACE_MARKER_BYTES = utf8ByteString('▁'); // E2 96 81

/**
 * A GGUF token-id key (`tokenizer.ggml.*_token_id`): undefined when absent,
 * null for "none" (0xFFFFFFFF or -1), else an id below `n`. The spec makes these
 * uint32; int32 is accepted too (older converters). Other types: ModelFormatError.
 */
export function ggufTokenId(gguf: GgufFile, key: string, n: number): number | null | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'uint32' && v.type !== 'int32') throw new ModelFormatError(gguf.file, `${key} has type ${v.type}, expected uint32`);
  const id = v.value as number;
  if (id < 0 || id === 0xffffffff) return null;
  if (id >= n) throw new ModelFormatError(gguf.file, `${key} ${id} is out of range (vocabulary of ${n})`);
  return id;
}

/**
 * A numeric GGUF array of the item type the spec gives it (`tokenizer.ggml.scores`: float32,
 * `tokenizer.ggml.token_type`: int32, as llama.cpp's gguf-py writes them): undefined when absent,
 * ModelFormatError naming the key for any other type.
 */
export function ggufNumberArray(gguf: GgufFile, key: string, itemType: 'float32' | 'int32'): number[] | undefined {
  const v = gguf.metadata.get(key);
  if (v === undefined) return undefined;
  if (v.type !== 'array' || v.itemType !== itemType) {
    throw new ModelFormatError(gguf.file, `${key} has type ${v.type === 'array' ? `array of ${v.itemType}` : v.type}, expected array of ${itemType}`);
  }
  return gguf.getNumberArray(key);
}

function validId(id: number | null | undefined, n: number, what: string, source: string): number | null {
  if (id === null || id === undefined) return null;
  // 0xFFFFFFFF (uint32 -1) and negatives mean "none" in GGUF files.
  if (id < 0 || id === 0xffffffff) return null;
  if (!Number.isInteger(id) || id >= n) throw new ModelFormatError(source, `${what} ${id} is out of range (vocabulary of ${n})`);
  return id;
}

/**
 * SentencePiece-style BPE as llama.cpp's `llm_tokenizer_spm` and llama2.c's
 * `encode()`: the text (with a dummy-prefix space, spaces escaped to '▁') is
 * split into UTF-8 characters, then the adjacent pair whose concatenation is a
 * vocabulary piece with the highest score is merged (ties: leftmost) until no
 * pair merges; characters that are not pieces fall back to `<0xNN>` byte
 * tokens (or UNK). A priority queue over a linked list of symbols makes it
 * O(n log n).
 */
export class SentencePieceTokenizer implements Tokenizer {
  readonly kind = 'sentencepiece-bpe' as const;
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly unkId: number | null;
  readonly padId: number | null;
  readonly stopIds: readonly number[];
  readonly chatTemplate: string | null;
  readonly specialTokens: Readonly<Record<string, string>>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly spaceMarker: '▁' | ' ';

  private readonly source: string;
  /** Pieces as byte strings. */
  private readonly pieces: string[];
  private readonly scores: Float64Array;
  private readonly types: Uint8Array;
  private readonly pieceToId = new Map<string, number>();
  /** Byte value -> id of its byte token (<0xNN>, else the 1-byte piece), or -1. */
  private readonly byteToId = new Int32Array(256).fill(-1);
  /** Special pieces matched in text: control/unknown (only with parseSpecial) and user-defined (always), longest first. */
  private readonly specialOrder: number[];
  /** The pieces of specialOrder, in that order, to find which occur in a text. */
  private readonly specialPatterns: PatternSet;
  /** Decoded bytes of each id (byte tokens -> the raw byte; '▁' -> ' '). */
  private readonly decoded: Uint8Array[];

  constructor(spec: SentencePieceVocabSpec) {
    const source = spec.source ?? 'tokenizer';
    this.source = source;
    const n = spec.pieces.length;
    if (n === 0) throw new ModelFormatError(source, 'the vocabulary is empty');
    if (spec.scores.length !== n) throw new ModelFormatError(source, `${spec.scores.length} scores for ${n} tokens`);
    if (spec.types && spec.types.length !== n) throw new ModelFormatError(source, `${spec.types.length} token types for ${n} tokens`);
    this.vocabSize = n;
    this.bosId = validId(spec.bosId, n, 'BOS id', source);
    this.eosId = validId(spec.eosId, n, 'EOS id', source);
    this.unkId = validId(spec.unkId, n, 'UNK id', source);
    this.padId = validId(spec.padId, n, 'padding id', source);
    this.addBos = spec.addBos ?? true;
    this.addEos = spec.addEos ?? false;
    this.addSpacePrefix = spec.addSpacePrefix ?? true;
    this.spaceMarker = spec.spaceMarker ?? '▁';
    this.chatTemplate = spec.chatTemplate ?? null;

    this.pieces = new Array<string>(n);
    this.scores = new Float64Array(n);
    this.types = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const p = spec.pieces[i];
      this.pieces[i] = typeof p === 'string' ? utf8ByteString(p) : bytesToByteString(p);
      const s = Number(spec.scores[i]);
      this.scores[i] = Number.isFinite(s) ? s : s > 0 ? Number.MAX_VALUE : -Number.MAX_VALUE;
    }
    for (let i = 0; i < n; i++) {
      let t: number;
      if (spec.types) {
        t = Number(spec.types[i]);
        if (!(t >= 1 && t <= 6)) t = TokenType.NORMAL; // llama.cpp treats a missing type as normal
      } else if (i === this.unkId) t = TokenType.UNKNOWN;
      else if (i === this.bosId || i === this.eosId) t = TokenType.CONTROL;
      else if (parseByteToken(this.pieces[i]) >= 0) t = TokenType.BYTE;
      else t = TokenType.NORMAL;
      this.types[i] = t;
      // llama.cpp: token_to_id[word] = i, so the last duplicate wins.
      this.pieceToId.set(this.pieces[i], i);
    }
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      const id = this.pieceToId.get(`<0x${hex}>`) ?? this.pieceToId.get(String.fromCharCode(b));
      if (id !== undefined) this.byteToId[b] = id;
    }
    this.specialOrder = [];
    for (let i = 0; i < n; i++) {
      const t = this.types[i];
      if ((t === TokenType.CONTROL || t === TokenType.USER_DEFINED || t === TokenType.UNKNOWN) && this.pieces[i].length > 0) {
        this.specialOrder.push(i);
      }
    }
    this.specialOrder.sort((a, b) => this.pieces[b].length - this.pieces[a].length || a - b);
    this.specialPatterns = new PatternSet(this.specialOrder.map((id) => this.pieces[id]!));

    this.decoded = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) {
      const t = this.types[i];
      const piece = this.pieces[i];
      if (t === TokenType.BYTE) {
        const b = parseByteToken(piece);
        this.decoded[i] = b >= 0 ? Uint8Array.of(b) : byteStringToBytes(piece);
      } else if (t === TokenType.NORMAL && this.spaceMarker === '▁') {
        this.decoded[i] = byteStringToBytes(piece.split(SPACE_MARKER_BYTES).join(' '));
      } else {
        this.decoded[i] = byteStringToBytes(piece);
      }
    }

    const special: Record<string, string> = {};
    const text = (id: number | null) => (id === null ? undefined : new TextDecoder().decode(byteStringToBytes(this.pieces[id])));
    const bos = text(this.bosId);
    const eos = text(this.eosId);
    const unk = text(this.unkId);
    const pad = text(this.padId);
    if (bos !== undefined) special.bos_token = bos;
    if (eos !== undefined) special.eos_token = eos;
    if (unk !== undefined) special.unk_token = unk;
    if (pad !== undefined) special.pad_token = pad;
    this.specialTokens = special;

    const stops = new Set<number>();
    if (this.eosId !== null) stops.add(this.eosId);
    for (const id of spec.extraStopIds ?? []) {
      const v = validId(id, n, 'stop id', source);
      if (v !== null) stops.add(v);
    }
    const specialId = (p: string) => {
      const id = this.pieceToId.get(utf8ByteString(p));
      return id !== undefined && (this.types[id] === TokenType.CONTROL || this.types[id] === TokenType.USER_DEFINED) ? id : undefined;
    };
    for (const id of stopIdsFromPieces(specialId)) stops.add(id);
    this.stopIds = [...stops];
  }

  /** Reads the vocabulary of a GGUF file whose `tokenizer.ggml.model` is 'llama'. */
  static fromGguf(gguf: GgufFile): SentencePieceTokenizer {
    const file = gguf.file;
    const model = gguf.getString('tokenizer.ggml.model');
    if (model !== 'llama') {
      throw new ModelFormatError(file, `tokenizer.ggml.model is '${model ?? '(missing)'}', expected 'llama' for a SentencePiece vocabulary`);
    }
    const pieces = gguf.getStringArray('tokenizer.ggml.tokens');
    if (!pieces) throw new ModelFormatError(file, 'tokenizer.ggml.tokens is missing');
    const scores = ggufNumberArray(gguf, 'tokenizer.ggml.scores', 'float32');
    if (!scores) throw new ModelFormatError(file, 'tokenizer.ggml.scores is missing (needed by a SentencePiece vocabulary)');
    const types = ggufNumberArray(gguf, 'tokenizer.ggml.token_type', 'int32') ?? null;
    const extra: number[] = [];
    for (const key of ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) {
      const v = ggufTokenId(gguf, key, pieces.length);
      if (typeof v === 'number') extra.push(v);
    }
    const id = (key: string, dflt: number | null) => {
      const v = ggufTokenId(gguf, key, pieces.length);
      return v === undefined ? dflt : v;
    };
    return new SentencePieceTokenizer({
      source: file,
      pieces,
      scores,
      types,
      // llama.cpp defaults for a 'llama' vocabulary: BOS 1, EOS 2, UNK 0, add BOS, dummy prefix.
      bosId: id('tokenizer.ggml.bos_token_id', 1),
      eosId: id('tokenizer.ggml.eos_token_id', 2),
      unkId: id('tokenizer.ggml.unknown_token_id', 0),
      padId: id('tokenizer.ggml.padding_token_id', null),
      addBos: gguf.getBool('tokenizer.ggml.add_bos_token') ?? true,
      addEos: gguf.getBool('tokenizer.ggml.add_eos_token') ?? false,
      addSpacePrefix: gguf.getBool('tokenizer.ggml.add_space_prefix') ?? true,
      spaceMarker: '▁',
      chatTemplate: gguf.getString('tokenizer.chat_template') ?? null,
      extraStopIds: extra,
    });
  }

  /**
   * A llama.cpp/llama2.c `tokenizer.bin` vocabulary (raw-byte pieces and
   * scores). llama2.c's exporter writes spaces as ' ' and BOS/EOS as
   * "\n<s>\n" / "\n</s>\n"; those two are renamed to "<s>" / "</s>" here.
   * Token types are inferred: UNK (id 0), BOS/EOS control, `<0xNN>` bytes.
   */
  static fromLlama2c(
    tok: { pieces: readonly Uint8Array[]; scores: ArrayLike<number> },
    opts: { bosId?: number; eosId?: number; unkId?: number | null; source?: string; chatTemplate?: string | null } = {},
  ): SentencePieceTokenizer {
    const bosId = opts.bosId ?? 1;
    const eosId = opts.eosId ?? 2;
    let spaceMarker: '▁' | ' ' = ' ';
    let sawSpace = false;
    let sawMarker = false;
    const pieces: Array<string | Uint8Array> = tok.pieces.map((p, i) => {
      const s = bytesToByteString(p);
      if (s.includes(' ')) sawSpace = true;
      if (s.includes(SPACE_MARKER_BYTES)) sawMarker = true;
      if (i === bosId && s === '\n<s>\n') return '<s>';
      if (i === eosId && s === '\n</s>\n') return '</s>';
      return p;
    });
    if (!sawSpace && sawMarker) spaceMarker = '▁';
    return new SentencePieceTokenizer({
      source: opts.source ?? 'tokenizer.bin',
      pieces,
      scores: tok.scores,
      types: null,
      bosId,
      eosId,
      unkId: opts.unkId === undefined ? (tok.pieces.length > 0 ? 0 : null) : opts.unkId,
      addBos: true,
      addEos: false,
      addSpacePrefix: true,
      spaceMarker,
      chatTemplate: opts.chatTemplate ?? null,
    });
  }

  /** Type of a token (TokenType), or -1 for an id out of range. */
  tokenType(id: number): number {
    return id >= 0 && id < this.vocabSize ? this.types[id] : -1;
  }

  /** Score of a token (0 for an id out of range). */
  score(id: number): number {
    return id >= 0 && id < this.vocabSize ? this.scores[id] : 0;
  }

  idToPiece(id: number): string {
    checkId(id, 'idToPiece');
    if (!(id >= 0 && id < this.vocabSize)) return '';
    return new TextDecoder().decode(byteStringToBytes(this.pieces[id]));
  }

  /** Id of a piece (text as in the vocabulary, e.g. '▁the'), or undefined. */
  pieceToIdOf(piece: string): number | undefined {
    return this.pieceToId.get(utf8ByteString(piece));
  }

  encode(text: string, options: { addBos?: boolean; addEos?: boolean; parseSpecial?: boolean } = {}): number[] {
    checkText(text, 'encode');
    const addBos = (options.addBos ?? this.addBos) && this.bosId !== null;
    const addEos = (options.addEos ?? this.addEos) && this.eosId !== null;
    const parseSpecial = options.parseSpecial ?? false;
    const out: number[] = [];
    if (addBos) out.push(this.bosId as number);
    if (text.length > 0) {
      const bytes = utf8ByteString(text);
      // llama.cpp tokenize(): is_prev_special starts true, so the first text
      // fragment gets the dummy prefix even without BOS.
      let prevSpecial = true;
      for (const frag of this.partition(bytes, parseSpecial)) {
        if (typeof frag === 'number') {
          out.push(frag);
          prevSpecial = true;
          continue;
        }
        let t = this.addSpacePrefix && prevSpecial ? ' ' + frag : frag;
        if (this.spaceMarker === '▁') t = t.split(' ').join(SPACE_MARKER_BYTES);
        this.tokenizeFragment(t, out);
        prevSpecial = false;
      }
    }
    if (addEos) out.push(this.eosId as number);
    return out;
  }

  /** Splits a byte string at special pieces (llama.cpp tokenizer_st_partition): numbers are token ids, strings raw text. */
  private partition(bytes: string, parseSpecial: boolean): Array<string | number> {
    let frags: Array<string | number> = [bytes];
    // Only pieces that occur in the text can split it: one linear pass finds them (scanning the text once per
    // special piece cost 6 s for 100,000 chars with 30,000 user-defined pieces).
    const present = this.specialPatterns.occurring(bytes);
    for (let k = 0; k < this.specialOrder.length; k++) {
      if (!present.has(k)) continue;
      const id = this.specialOrder[k]!;
      const t = this.types[id];
      if (!parseSpecial && t !== TokenType.USER_DEFINED) continue;
      const piece = this.pieces[id];
      let next: Array<string | number> | null = null;
      for (let f = 0; f < frags.length; f++) {
        const frag = frags[f];
        if (typeof frag === 'number' || frag.indexOf(piece) < 0) {
          if (next) next.push(frag);
          continue;
        }
        if (!next) next = frags.slice(0, f);
        let base = 0;
        for (;;) {
          const at = frag.indexOf(piece, base);
          if (at < 0) break;
          if (at > base) next.push(frag.slice(base, at));
          next.push(id);
          base = at + piece.length;
        }
        if (base < frag.length) next.push(frag.slice(base));
      }
      if (next) frags = next;
    }
    return frags;
  }

  /** llm_tokenizer_spm_session::tokenize on one escaped byte-string fragment. */
  private tokenizeFragment(text: string, out: number[]): void {
    const len = text.length;
    if (len === 0) return;
    // Symbols: one per UTF-8 character.
    const start = new Int32Array(len);
    const size = new Int32Array(len);
    const prev = new Int32Array(len);
    const next = new Int32Array(len);
    let n = 0;
    for (let offs = 0; offs < len; ) {
      const l = Math.min(len - offs, utf8SequenceLength(text.charCodeAt(offs)));
      start[n] = offs;
      size[n] = l;
      prev[n] = n - 1;
      offs += l;
      next[n] = offs === len ? -1 : n + 1;
      n++;
    }
    const heap = new BigramHeap(n * 2);
    const pieceToId = this.pieceToId;
    const scores = this.scores;
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const s = size[left] + size[right];
      const id = pieceToId.get(text.substr(start[left], s));
      if (id === undefined) return;
      heap.push(scores[id], left, right, s);
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);
    const top = new Int32Array(3);
    while (heap.pop(top)) {
      const l = top[0];
      const r = top[1];
      // Skip stale bigrams: one side already merged elsewhere.
      if (size[l] === 0 || size[r] === 0 || size[l] + size[r] !== top[2]) continue;
      size[l] += size[r];
      size[r] = 0;
      next[l] = next[r];
      if (next[r] >= 0) prev[next[r]] = l;
      tryAdd(prev[l], l);
      tryAdd(l, next[l]);
    }
    for (let i = 0; i !== -1; i = next[i]) {
      const piece = text.substr(start[i], size[i]);
      const id = pieceToId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Byte fallback (llama.cpp resegment -> byte_to_token).
      for (let j = 0; j < piece.length; j++) {
        const b = piece.charCodeAt(j);
        const bid = this.byteToId[b];
        if (bid >= 0) out.push(bid);
        else if (this.unkId !== null) out.push(this.unkId);
        else {
          throw new ModelFormatError(
            this.source,
            `cannot encode byte 0x${b.toString(16).padStart(2, '0')}: the vocabulary has no byte token and no unknown token`,
          );
        }
      }
    }
  }

  /**
   * Bytes that id `id` contributes after `prevId` (-1: start of sequence).
   * Control, unknown and unused tokens produce nothing unless keepSpecial.
   * Leading-space rule (llama2.c decode, SentencePiece): with the dummy
   * prefix on, a normal or user-defined piece right after BOS loses one
   * leading space.
   */
  private pieceBytes(id: number, prevId: number, keepSpecial: boolean): Uint8Array | null {
    if (!(id >= 0 && id < this.vocabSize)) return null;
    const t = this.types[id];
    if ((t === TokenType.CONTROL || t === TokenType.UNKNOWN || t === TokenType.UNUSED) && !keepSpecial) return null;
    const d = this.decoded[id];
    if (
      this.addSpacePrefix &&
      prevId === this.bosId &&
      (t === TokenType.NORMAL || t === TokenType.USER_DEFINED) &&
      d.length > 0 &&
      d[0] === 0x20
    ) {
      return d.subarray(1);
    }
    return d;
  }

  decode(ids: readonly number[], options: { keepSpecial?: boolean } = {}): string {
    checkIds(ids, 'decode');
    const keep = options.keepSpecial ?? false;
    const buf = new ByteBuffer();
    let prev = -1;
    for (const id of ids) {
      const b = this.pieceBytes(id, prev, keep);
      if (b) buf.pushBytes(b);
      prev = id;
    }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(buf.take());
  }

  createStreamDecoder(options: StreamDecoderOptions = {}): StreamDecoder {
    const keep = options.keepSpecial ?? false;
    const prefix = checkIds(options.prefix ?? [], 'createStreamDecoder prefix');
    let prev = prefix.length > 0 ? prefix[prefix.length - 1] : -1;
    const utf8 = new Utf8Stream();
    return {
      push: (id: number) => {
        const b = this.pieceBytes(checkId(id, 'push'), prev, keep);
        prev = id;
        return b ? utf8.push(b) : '';
      },
      flush: () => utf8.flush(),
    };
  }
}
