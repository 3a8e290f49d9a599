import { createBackend, type Backend, type DeviceBuffer, type DeviceWeight } from '@bitexit/backend';
import { BitexitError } from '@bitexit/format';
import type { StreamDecoder, Tokenizer } from '@bitexit/tokenizer';
import type {
  ChatMessage,
  ChatOptions,
  EarlyExitStats,
  FinishReason,
  GenerateOptions,
  Generation,
  GenerationChunk,
  GenerationResult,
  LoadModelOptions,
  ModelInfo,
  PerplexityOptions,
  PerplexityResult,
} from '../api.js';
import { openModel, planLoadConversion, type LoadConversion } from '../model/index.js';
import type { ModelConfig, ModelSource } from '../model/types.js';
import { ContextLengthExceededError, InvalidOptionError, NoChatTemplateError, TokenizerMissingError } from './errors.js';
import { chatPromptIds } from './chat-template.js';
import { abortedBeforeStart, GenerationStream } from './generation.js';
import {
  createEarlyExitRuntime,
  exitStepInputs,
  releaseEarlyExitRuntime,
  type EarlyExitConfig,
  type EarlyExitRuntime,
  type KvPolicy,
} from './early-exit.js';
import { ensureDefaultBackend } from './default-backend.js';
import { compilePrograms, createBuffers, MAX_HISTORY, uploadModelWeights, type ModelBuffers, type ModelPrograms, type ModelWeights } from './programs.js';
import { randomSeed, SeededRandom } from './random.js';
import { StopStringFilter } from './stop.js';
import { createYielder } from './yield.js';

const now = () => performance.now();

/** The most new tokens a generation makes when `maxTokens` is not given. */
export const DEFAULT_MAX_TOKENS = 256;

/**
 * The default `maxTokens`: 256, but never more than the context left after
 * the prompt, so a default generation ends with 'eos', 'stop' or 'length',
 * never by running out of KV cache ('context', which the caller did not ask for).
 */
export function defaultMaxTokens(contextLength: number, promptTokens: number): number {
  return Math.max(0, Math.min(DEFAULT_MAX_TOKENS, contextLength - promptTokens));
}

/** Loads a model file (GGUF, llama2.c, Hugging Face directory) onto a backend. */
export async function loadModel(pathOrSource: string | ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  const source =
    typeof pathOrSource === 'string' ? await openModel(pathOrSource, { tokenizerPath: options.tokenizerPath }) : pathOrSource;
  let ownsBackend = false;
  let backend: Backend;
  let skipped: { name: string; reason: string }[] = [];
  try {
    if (typeof options.backend === 'object') {
      backend = options.backend;
    } else {
      await ensureDefaultBackend();
      const created = await createBackend(options.backend ?? 'auto');
      backend = created.backend;
      skipped = created.skipped;
      ownsBackend = true;
    }
  } catch (e) {
    await source.close();
    throw e;
  }
  try {
    const model = await Model.create(source, backend, options, skipped);
    model.ownsBackend = ownsBackend;
    return model;
  } catch (e) {
    await source.close();
    if (ownsBackend) await backend.dispose();
    throw e;
  }
}

export class Model {
  readonly info: ModelInfo;
  readonly config: ModelConfig;
  /** Backends `auto` passed over, with reasons (empty for an explicit choice). */
  readonly skippedBackends: { name: string; reason: string }[];
  /** @internal */
  ownsBackend = false;

  /** Token ids whose K/V are in the cache, in order (prefix reuse across calls). */
  private cached: number[] = [];
  private lock: Promise<void> = Promise.resolve();
  private disposed = false;
  /** SpecEE state when early exit is enabled. */
  private exitRuntime: EarlyExitRuntime | null = null;

  private constructor(
    private readonly source: ModelSource,
    readonly backend: Backend,
    /** @internal Device-resident weights, for extensions that build their own programs (SpecEE). */
    readonly weights: ModelWeights,
    private readonly uploaded: DeviceWeight[],
    private readonly buffers: ModelBuffers,
    private programs: ModelPrograms,
    contextLength: number,
    skipped: { name: string; reason: string }[],
    conversion: LoadConversion | null,
  ) {
    this.config = source.config;
    this.skippedBackends = skipped;
    const params = [...source.tensors.values()].reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    this.info = {
      format: source.format,
      path: source.path,
      config: source.config,
      weightBytes: source.weightBytes,
      parameterCount: params,
      bitsPerWeight: params ? (8 * source.weightBytes) / params : 0,
      backend: backend.capabilities.name,
      contextLength,
      conversion,
    };
  }

  /** @internal */
  static async create(
    source: ModelSource,
    backend: Backend,
    options: LoadModelOptions,
    skipped: { name: string; reason: string }[],
  ): Promise<Model> {
    const c = source.config;
    const contextLength = options.contextLength ?? Math.min(c.contextLength, 2048);
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new InvalidOptionError(`contextLength must be a positive integer, got ${options.contextLength}`);
    }
    // Positions past the trained context give garbage; bitexit has no RoPE scaling that would extend it.
    if (contextLength > c.contextLength) {
      throw new InvalidOptionError(
        `a context of ${contextLength} tokens is more than the ${c.contextLength} ${source.path} was trained on (contexts cannot be extended): use ${c.contextLength} or less`,
      );
    }
    const rows = Math.min(options.prefillChunk ?? 128, contextLength);
    if (!Number.isInteger(rows) || rows < 1) throw new InvalidOptionError(`prefillChunk must be a positive integer`);

    // Refuses undecodable tensor types before anything is uploaded.
    const conversion = planLoadConversion(source);
    const progress = options.onProgress;
    const totalBytes = source.weightBytes;
    let loadedBytes = 0;
    progress?.({ phase: 'open', loadedBytes, totalBytes });
    const { weights, uploaded } = await uploadModelWeights(source, backend, (entry) => {
      loadedBytes += entry.byteLength;
      progress?.({ phase: 'upload', loadedBytes, totalBytes, tensor: entry.name });
    });
    try {
      progress?.({ phase: 'compile', loadedBytes, totalBytes });
      const buffers = createBuffers(backend, c, rows, contextLength);
      const programs = compilePrograms(backend, c, weights, buffers);
      progress?.({ phase: 'ready', loadedBytes, totalBytes });
      return new Model(source, backend, weights, uploaded, buffers, programs, contextLength, skipped, conversion);
    } catch (e) {
      for (const w of uploaded) backend.release(w);
      throw e;
    }
  }

  get tokenizer(): Tokenizer {
    if (!this.source.tokenizer) throw new TokenizerMissingError(this.source.path);
    return this.source.tokenizer;
  }

  /** Whether the model carries a tokenizer (llama2.c checkpoints need one passed separately). */
  get hasTokenizer(): boolean {
    return this.source.tokenizer !== null;
  }

  generate(prompt: string | number[], options: GenerateOptions = {}): Generation {
    let partial: GenerationResult | null = null;
    const gen = this.run(prompt, options, (r) => (partial = r));
    return new GenerationStream(gen, () => partial ?? abortedBeforeStart(this.info.backend));
  }

  /** Renders `messages` with the model's chat template (or `options.chatTemplate`) and generates the assistant's answer. */
  chat(messages: ChatMessage[], options: ChatOptions = {}): Generation {
    const { chatTemplate, ...generateOptions } = options;
    const template = chatTemplate ?? this.tokenizer.chatTemplate;
    if (!template) throw new NoChatTemplateError(this.source.path);
    return this.generate(chatPromptIds(this.tokenizer, template, messages), generateOptions);
  }

  /** Teacher-forced logits after each prefix of `ids` (position p = logits after ids[0..p]). */
  async logits(ids: number[]): Promise<Float32Array[]> {
    return this.exclusive(async () => {
      this.checkIds(ids);
      if (ids.length > this.info.contextLength) throw new ContextLengthExceededError(ids.length, this.info.contextLength);
      this.cached = [];
      const out: Float32Array[] = [];
      const V = this.config.vocabSize;
      for (let start = 0; start < ids.length; start += this.buffers.rows) {
        const chunk = ids.slice(start, start + this.buffers.rows);
        const [logits] = await this.backend.run(this.programs.score, {
          pos: start,
          n: chunk.length,
          inputs: [{ buffer: this.buffers.ids, data: Int32Array.from(chunk) }],
        });
        for (let r = 0; r < chunk.length; r++) out.push(Float32Array.from((logits as Float32Array).subarray(r * V, (r + 1) * V)));
      }
      return out;
    });
  }

  /**
   * Logits after the whole of `ids` (the prediction for the next token), reusing the KV cache of the
   * longest prefix shared with the previous call, so a caller that extends its context token by token
   * (a draft model) pays one step per new token instead of a prefill of everything.
   */
  async nextLogits(ids: number[]): Promise<Float32Array> {
    return this.exclusive(async () => {
      this.checkIds(ids);
      if (ids.length === 0) throw new InvalidOptionError('nextLogits needs at least one token');
      if (ids.length > this.info.contextLength) throw new ContextLengthExceededError(ids.length, this.info.contextLength);
      const common = this.reusePrefix(ids);
      let logits: Float32Array | null = null;
      for (let start = common; start < ids.length; start += this.buffers.rows) {
        const chunk = ids.slice(start, start + this.buffers.rows);
        const inputs = [{ buffer: this.buffers.ids, data: Int32Array.from(chunk) }];
        if (start + chunk.length < ids.length) {
          await this.backend.run(this.programs.prefill, { pos: start, n: chunk.length, inputs });
        } else {
          logits = (await this.backend.run(this.programs.prefillLogits, { pos: start, n: chunk.length, inputs }))[0] as Float32Array;
        }
        this.cached.push(...chunk);
      }
      return logits!;
    });
  }

  /**
   * Perplexity with llama.cpp's `llama-perplexity` protocol: the text is tokenised
   * once with BOS first and cut into consecutive chunks of `ctx` tokens; each
   * chunk starts with BOS and only its second half is scored.
   */
  async perplexity(text: string, options: PerplexityOptions = {}): Promise<PerplexityResult> {
    const tokens = this.tokenizer.encode(text, { addBos: true });
    const ctx = Math.min(options.ctx ?? 512, this.info.contextLength);
    if (!Number.isInteger(ctx) || ctx < 4) throw new InvalidOptionError(`ctx must be an integer >= 4, got ${options.ctx}`);
    let chunks = Math.floor(tokens.length / ctx);
    if (chunks === 0) throw new InvalidOptionError(`the text has ${tokens.length} tokens, fewer than one chunk of ctx=${ctx}`);
    if (options.maxChunks !== undefined) chunks = Math.min(chunks, options.maxChunks);
    const bos = this.tokenizer.bosId;
    const first = Math.floor(ctx / 2);
    const V = this.config.vocabSize;
    return this.exclusive(async () => {
      this.cached = [];
      let nll = 0;
      let count = 0;
      const breathe = createYielder();
      for (let c = 0; c < chunks; c++) {
        await breathe();
        if (options.signal?.aborted) throw new BitexitError('E_ABORTED', 'perplexity evaluation aborted');
        const ids = tokens.slice(c * ctx, (c + 1) * ctx);
        if (bos !== null) ids[0] = bos;
        for (let r0 = 0; r0 < ctx; r0 += this.buffers.rows) {
          const r1 = Math.min(r0 + this.buffers.rows, ctx);
          const inputs = [{ buffer: this.buffers.ids, data: Int32Array.from(ids.slice(r0, r1)) }];
          if (r1 <= first) {
            await this.backend.run(this.programs.prefill, { pos: r0, n: r1 - r0, inputs });
            continue;
          }
          const [logits] = (await this.backend.run(this.programs.score, { pos: r0, n: r1 - r0, inputs })) as Float32Array[];
          for (let j = Math.max(first, r0); j < Math.min(r1, ctx - 1); j++) {
            nll -= logSoftmaxAt(logits!, (j - r0) * V, V, ids[j + 1]!);
            count++;
          }
        }
        options.onProgress?.(c + 1, chunks);
      }
      const mean = nll / count;
      return { ppl: Math.exp(mean), nll: mean, tokensScored: count, chunks, ctx };
    });
  }

  /**
   * Turns on SpecEE early exit for decoding (see EarlyExitConfig; @bitexit/specee's
   * `createEarlyExit` builds one from an exits file). Replaces an earlier config.
   * With the `mask` KV policy every program is recompiled to record and mask
   * depth, and the prefix cache is dropped (its positions carry no record).
   */
  async enableEarlyExit(config: EarlyExitConfig): Promise<void> {
    await this.exclusive(async () => {
      const rt = await createEarlyExitRuntime(this.backend, this.config, this.weights, this.buffers, this.info.contextLength, config);
      const old = this.exitRuntime;
      // The mask policy's programs read the runtime's own depth record: recompile before releasing the old one.
      if (rt.buffers.exitLayers || old?.buffers.exitLayers) this.recompile(rt.buffers.exitLayers ? { exitLayers: rt.buffers.exitLayers } : undefined);
      this.exitRuntime = rt;
      if (old) releaseEarlyExitRuntime(this.backend, old);
    });
  }

  async disableEarlyExit(): Promise<void> {
    await this.exclusive(async () => {
      if (!this.exitRuntime) return;
      const hadMask = this.exitRuntime.kvPolicy === 'mask';
      const rt = this.exitRuntime;
      this.exitRuntime = null;
      if (hadMask) this.recompile(undefined);
      releaseEarlyExitRuntime(this.backend, rt);
    });
  }

  /** The early-exit setup in use, or null. */
  get earlyExit(): { kvPolicy: KvPolicy; layers: readonly number[]; k: number; threshold: number; drafter: string } | null {
    const rt = this.exitRuntime;
    return rt ? { kvPolicy: rt.kvPolicy, layers: rt.layers, k: rt.config.k, threshold: rt.config.threshold, drafter: rt.config.drafter.kind } : null;
  }

  /**
   * Teacher-forced decoding with early exit: ids[0] runs at full depth, then each
   * ids[t] is fed as a decode step (drafter, scheduler and KV policy as in
   * generation). logits[t] are the logits the step's token came from (the exit
   * layer's, or the last layer's), i.e. the prediction for ids[t + 1];
   * exitLayers[t] is the last layer computed at position t.
   */
  async scoreWithEarlyExit(ids: number[], options: { signal?: AbortSignal } = {}): Promise<{ logits: Float32Array[]; exitLayers: number[] }> {
    return this.exclusive(async () => {
      const rt = this.exitRuntime;
      if (!rt) throw new InvalidOptionError('early exit is not enabled on this model (call enableEarlyExit first)');
      this.checkIds(ids);
      if (ids.length === 0) return { logits: [], exitLayers: [] };
      if (ids.length > this.info.contextLength) throw new ContextLengthExceededError(ids.length, this.info.contextLength);
      this.cached = [];
      rt.config.drafter.reset?.();
      const L = this.config.nLayers;
      const greedy = { temperature: 0, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, historyLength: 0, uniform: 0 };
      const first = await this.backend.run(rt.prefillSample, { pos: 0, n: 1, inputs: [{ buffer: this.buffers.ids, data: Int32Array.of(ids[0]!) }], sampling: greedy });
      let feature = first[1] as Float32Array;
      const logits = [(await this.backend.readBuffer(this.buffers.logits)) as Float32Array];
      const exitLayers = [L - 1];
      const breathe = createYielder();
      for (let t = 1; t < ids.length; t++) {
        await breathe();
        if (options.signal?.aborted) throw new BitexitError('E_ABORTED', 'evaluation aborted');
        const drafts = await rt.config.drafter.propose(ids.slice(0, t + 1), rt.config.k, rt.config.drafter.needsFeature ? feature : undefined);
        const out = await this.backend.run(rt.score, {
          pos: t,
          n: 1,
          inputs: [{ buffer: this.buffers.ids, data: Int32Array.of(ids[t]!) }, ...exitStepInputs(rt, L, drafts)],
        });
        logits.push(out[0] as Float32Array);
        const exitLayer = out[1]![1]! >= 0 ? out[1]![1]! : L - 1;
        rt.config.scheduler.record(exitLayer);
        exitLayers.push(exitLayer);
        if (rt.config.drafter.needsFeature) feature = out[2] as Float32Array;
      }
      return { logits, exitLayers };
    });
  }

  /**
   * Keeps the longest cached prefix of `ids` (at least one token is always left to run, so the step
   * produces logits) and returns its length: the position where the run must start.
   */
  private reusePrefix(ids: readonly number[]): number {
    let common = 0;
    const limit = Math.min(this.cached.length, ids.length - 1);
    while (common < limit && this.cached[common] === ids[common]) common++;
    this.cached.length = common;
    return common;
  }

  /** Recompiles the base programs with or without the `mask` policy's depth record. */
  private recompile(mask: { exitLayers: DeviceBuffer } | undefined): void {
    const next = compilePrograms(this.backend, this.config, this.weights, this.buffers, mask);
    for (const p of Object.values(this.programs)) this.backend.release(p);
    this.programs = next;
    this.cached = [];
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.lock.catch(() => undefined);
    if (this.exitRuntime) releaseEarlyExitRuntime(this.backend, this.exitRuntime);
    this.exitRuntime = null;
    for (const p of Object.values(this.programs)) this.backend.release(p);
    for (const b of Object.values(this.buffers)) {
      if (Array.isArray(b)) b.forEach((x) => this.backend.release(x));
      else if (typeof b === 'object') this.backend.release(b);
    }
    for (const w of this.uploaded) this.backend.release(w);
    await this.source.close();
    if (this.ownsBackend) await this.backend.dispose();
  }

  /** Runs `fn` with the model to itself (one request at a time per loaded model). */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.disposed) throw new BitexitError('E_DISPOSED', 'the model has been disposed');
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise((r) => (release = r));
    await prev.catch(() => undefined);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private checkIds(ids: readonly number[]): void {
    const V = this.config.vocabSize;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new InvalidOptionError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    }
  }

  private async *run(
    prompt: string | number[],
    options: GenerateOptions,
    report: (r: GenerationResult) => void,
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    const t0 = now();
    const sampling = resolveSampling(options);
    if (options.maxTokens !== undefined && (!Number.isInteger(options.maxTokens) || options.maxTokens < 0)) {
      throw new InvalidOptionError(`maxTokens must be a non-negative integer, got ${options.maxTokens}`);
    }

    let promptIds: number[];
    if (typeof prompt === 'string') {
      const tok = this.tokenizer;
      promptIds = tok.encode(prompt, { addBos: options.addBos ?? tok.bosId !== null });
    } else {
      promptIds = [...prompt];
    }
    if (promptIds.length === 0) {
      const bos = this.source.tokenizer?.bosId ?? null;
      if (bos === null) throw new InvalidOptionError('the prompt is empty and the model has no BOS token to start from');
      promptIds = [bos];
    }
    this.checkIds(promptIds);
    const ctx = this.info.contextLength;
    if (promptIds.length >= ctx) throw new ContextLengthExceededError(promptIds.length + 1, ctx);
    const maxTokens = options.maxTokens ?? defaultMaxTokens(ctx, promptIds.length);

    // Hold the model for the whole generation.
    if (this.disposed) throw new BitexitError('E_DISPOSED', 'the model has been disposed');
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise((r) => (release = r));
    await prev.catch(() => undefined);

    const tokens: number[] = [];
    let text = '';
    let finishReason: FinishReason = 'length';
    let ttft = 0;
    let prefillMs = 0;
    let decodeMs = 0;
    let prefillCount = 0;
    let cachedCount = 0;
    // Early exit, when enabled and not turned off for this call.
    const exitRt = options.earlyExit === false ? null : this.exitRuntime;
    const L = this.config.nLayers;
    const exitStats = exitRt ? { steps: 0, layers: 0, histogram: new Array<number>(L).fill(0), draftMs: 0 } : null;
    let feature: Float32Array | undefined;
    const earlyExitStats = (): EarlyExitStats | undefined =>
      exitStats
        ? {
            steps: exitStats.steps,
            layersPerToken: exitStats.steps ? exitStats.layers / exitStats.steps : 0,
            layersFraction: exitStats.steps ? exitStats.layers / exitStats.steps / L : 0,
            histogram: [...exitStats.histogram],
            draftMs: exitStats.draftMs,
          }
        : undefined;
    const result = (): GenerationResult => ({
      text,
      promptTokens: promptIds,
      tokens: [...tokens],
      stats: {
        promptTokens: promptIds.length,
        cachedPromptTokens: cachedCount,
        generatedTokens: tokens.length,
        timeToFirstTokenMs: ttft,
        prefillTokensPerSecond: prefillMs > 0 ? (prefillCount * 1000) / prefillMs : 0,
        decodeTokensPerSecond: decodeMs > 0 && tokens.length > 1 ? ((tokens.length - 1) * 1000) / decodeMs : 0,
        totalMs: now() - t0,
        finishReason,
        backend: this.info.backend,
        ...(exitStats ? { earlyExit: earlyExitStats() } : {}),
      },
    });
    report(result());
    try {
      if (options.signal?.aborted) {
        finishReason = 'abort';
        return result();
      }
      if (maxTokens === 0) return result();
      const tok = this.source.tokenizer;
      const decoder: StreamDecoder | null = tok ? tok.createStreamDecoder({ prefix: promptIds }) : null;
      // A generated BOS starts a new document: stop there, as llama2.c's run.c does
      // (models trained on BOS-separated stories, like stories260K, end a story with BOS, not EOS).
      const stopIds = new Set<number>(
        tok ? [...[tok.eosId, tok.bosId].filter((id): id is number => id !== null), ...tok.stopIds] : [],
      );
      const stop = new StopStringFilter(options.stop ?? []);
      const history = [...promptIds];
      const rng = new SeededRandom(options.seed ?? randomSeed());
      exitRt?.config.drafter.reset?.();

      // Prefill, reusing the longest cached prefix.
      const common = this.reusePrefix(promptIds);
      cachedCount = common;
      const tp = now();
      let token = -1;
      for (let start = common; start < promptIds.length; start += this.buffers.rows) {
        const chunk = promptIds.slice(start, start + this.buffers.rows);
        const isLast = start + chunk.length >= promptIds.length;
        const inputs = [{ buffer: this.buffers.ids, data: Int32Array.from(chunk) }];
        if (!isLast) {
          await this.backend.run(this.programs.prefill, { pos: start, n: chunk.length, inputs });
        } else if (exitRt?.config.drafter.needsFeature) {
          // The drafter's first proposal reads the feature of the prompt's last position.
          const out = await this.backend.run(exitRt.prefillSample, this.sampleParams(start, chunk, history, sampling, rng));
          token = out[0]![0]!;
          feature = out[1] as Float32Array;
        } else {
          token = await this.sampleStep(this.programs.prefillSample, start, chunk, history, sampling, rng);
        }
        this.cached.push(...chunk);
      }
      prefillCount = promptIds.length - common;
      prefillMs = now() - tp;
      ttft = now() - t0;

      const td = now();
      const breathe = createYielder();
      for (;;) {
        tokens.push(token);
        history.push(token);
        if (stopIds.has(token)) {
          finishReason = 'eos';
          break;
        }
        const piece = decoder ? decoder.push(token) : '';
        const { emit, stopped } = stop.push(piece);
        text += emit;
        report(result());
        yield { token, text: emit };
        if (stopped) {
          finishReason = 'stop';
          break;
        }
        if (tokens.length >= maxTokens) {
          finishReason = 'length';
          break;
        }
        await breathe();
        if (options.signal?.aborted) {
          finishReason = 'abort';
          break;
        }
        const pos = this.cached.length;
        if (pos >= ctx) {
          finishReason = 'context';
          break;
        }
        if (exitRt && exitStats) {
          const td0 = now();
          const drafts = await exitRt.config.drafter.propose(history, exitRt.config.k, feature);
          exitStats.draftMs += now() - td0;
          const params = this.sampleParams(pos, [token], history, sampling, rng);
          params.inputs.push(...exitStepInputs(exitRt, L, drafts));
          const out = await this.backend.run(exitRt.decode, params);
          token = out[0]![0]!;
          const exitLayer = out[1]![1]! >= 0 ? out[1]![1]! : L - 1;
          exitRt.config.scheduler.record(exitLayer);
          exitStats.steps++;
          exitStats.layers += exitLayer + 1;
          exitStats.histogram[exitLayer]!++;
          if (exitRt.config.drafter.needsFeature) feature = out[2] as Float32Array;
        } else {
          token = await this.sampleStep(this.programs.decode, pos, [token], history, sampling, rng);
        }
        this.cached.push(tokens[tokens.length - 1]!);
      }
      decodeMs = now() - td;
      if (finishReason !== 'stop' && finishReason !== 'eos') {
        const tail = stop.push(decoder ? decoder.flush() : '').emit + stop.flush();
        if (tail) {
          text += tail;
          yield { token: tokens[tokens.length - 1]!, text: tail };
        }
      }
      const r = result();
      report(r);
      return r;
    } finally {
      release();
    }
  }

  private async sampleStep(
    program: ModelPrograms['decode'],
    pos: number,
    ids: number[],
    history: number[],
    sampling: ResolvedSampling,
    rng: SeededRandom,
  ): Promise<number> {
    const [out] = await this.backend.run(program, this.sampleParams(pos, ids, history, sampling, rng));
    return out![0]!;
  }

  /** Run parameters of a sampling step: token ids, the penalty's history, the sampling scalars. */
  private sampleParams(pos: number, ids: number[], history: number[], sampling: ResolvedSampling, rng: SeededRandom) {
    const inputs: { buffer: DeviceBuffer; data: Int32Array | Float32Array }[] = [{ buffer: this.buffers.ids, data: Int32Array.from(ids) }];
    let historyLength = 0;
    if (sampling.repetitionPenalty !== 1 && sampling.lastN > 0) {
      const recent = history.slice(-Math.min(sampling.lastN, MAX_HISTORY));
      historyLength = recent.length;
      inputs.push({ buffer: this.buffers.history, data: Int32Array.from(recent) });
    }
    return {
      pos,
      n: ids.length,
      inputs,
      sampling: {
        temperature: sampling.temperature,
        topK: sampling.topK,
        topP: sampling.topP,
        minP: sampling.minP,
        repetitionPenalty: sampling.repetitionPenalty,
        historyLength,
        uniform: rng.next(),
      },
    };
  }
}

type ResolvedSampling = ReturnType<typeof resolveSampling>;

function resolveSampling(o: GenerateOptions) {
  const s = {
    temperature: o.temperature ?? 0.8,
    topK: o.topK ?? 40,
    topP: o.topP ?? 0.95,
    minP: o.minP ?? 0.05,
    repetitionPenalty: o.repetitionPenalty ?? 1,
    lastN: o.repetitionLastN ?? 64,
  };
  const bad = (m: string) => {
    throw new InvalidOptionError(m);
  };
  if (!(s.temperature >= 0) || !Number.isFinite(s.temperature)) bad(`temperature must be >= 0, got ${s.temperature}`);
  if (!Number.isInteger(s.topK) || s.topK < 0) bad(`topK must be a non-negative integer, got ${s.topK}`);
  if (!(s.topP > 0 && s.topP <= 1)) bad(`topP must be in (0, 1], got ${s.topP}`);
  if (!(s.minP >= 0 && s.minP <= 1)) bad(`minP must be in [0, 1], got ${s.minP}`);
  if (!(s.repetitionPenalty > 0) || !Number.isFinite(s.repetitionPenalty)) bad(`repetitionPenalty must be > 0, got ${s.repetitionPenalty}`);
  if (!Number.isInteger(s.lastN) || s.lastN < 0) bad(`repetitionLastN must be a non-negative integer`);
  if (o.seed !== undefined && (!Number.isInteger(o.seed) || o.seed < 0)) bad(`seed must be a non-negative integer, got ${o.seed}`);
  return s;
}

function logSoftmaxAt(logits: Float32Array, offset: number, n: number, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[offset + i]! > max) max = logits[offset + i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[offset + i]! - max);
  return logits[offset + target]! - max - Math.log(sum);
}
