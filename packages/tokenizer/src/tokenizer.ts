/** What the engine needs from any tokenizer. */
export interface Tokenizer {
  readonly kind: 'sentencepiece-bpe' | 'huggingface';
  readonly vocabSize: number;
  /** Begin/end-of-sequence ids, or null when the vocabulary has none. */
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** Extra ids that also end generation (e.g. Llama-3 `<|eot_id|>`). */
  readonly stopIds: readonly number[];
  /** Text to ids; `addBos` prepends BOS when the model has one. Special-token strings in text are parsed as special tokens only when `parseSpecial` is true. */
  encode(text: string, options?: { addBos?: boolean; parseSpecial?: boolean }): number[];
  /** Ids to text (special tokens such as BOS/EOS are dropped unless `keepSpecial`). */
  decode(ids: readonly number[], options?: { keepSpecial?: boolean }): string;
  /** The raw piece of one id, for inspection. */
  idToPiece(id: number): string;
  /**
   * Incremental decoder that never emits a broken UTF-8 sequence. Streaming
   * the ids of a sequence one by one yields exactly `decode(ids)`. To stream
   * a continuation, pass the ids that came before (the prompt) as `prefix`:
   * their text is not emitted, but leading-space rules then apply as they
   * would in `decode(prefix.concat(generated))`.
   */
  createStreamDecoder(options?: StreamDecoderOptions): StreamDecoder;
  /** Chat template (Jinja source) carried by the model, if any. */
  readonly chatTemplate: string | null;
  /** Strings the chat template may reference: bos_token, eos_token... */
  readonly specialTokens: Readonly<Record<string, string>>;
}

export interface StreamDecoderOptions {
  /** Ids already decoded (e.g. the prompt); they set the decoder's state but produce no text. */
  prefix?: readonly number[];
  /** Emit special tokens (as `decode(ids, { keepSpecial: true })`). */
  keepSpecial?: boolean;
}

export interface StreamDecoder {
  /** Feeds one generated id; returns the text that is now complete (possibly ''). */
  push(id: number): string;
  /** Returns whatever is still pending (replacement characters for an unfinished sequence). */
  flush(): string;
}
