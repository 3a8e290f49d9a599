import {
  InvalidArgumentError,
  type JSONObject,
  type LanguageModelV4,
  type LanguageModelV4CallOptions,
  type LanguageModelV4FinishReason,
  type LanguageModelV4GenerateResult,
  type LanguageModelV4StreamPart,
  type LanguageModelV4StreamResult,
  type LanguageModelV4Usage,
  type SharedV4ProviderMetadata,
  type SharedV4Warning,
} from '@ai-sdk/provider';
import type { ChatMessage, ChatOptions, FinishReason, GenerationResult, Model } from '@bitexit/engine';
import { toChatMessages } from './prompt.js';

export interface BitexitModelSettings {
  /** Reported as `modelId` (default: the model's file name). */
  modelId?: string;
  /** Jinja chat template to render the prompt with, instead of the model's own (required when it has none). */
  chatTemplate?: string;
}

/** `providerOptions.bitexit` of a call: engine settings the AI SDK has no name for. */
export interface BitexitCallOptions {
  /** Drop tokens less likely than minP × the most likely one (engine default 0.05). */
  minP?: number;
  /** Multiplicative penalty on recently generated tokens (1 = off, the default). */
  repetitionPenalty?: number;
  /** Decode with SpecEE early exit when the model has it enabled (default true). */
  earlyExit?: boolean;
}

/** The name under which `providerOptions` and `providerMetadata` are keyed. */
export const PROVIDER_NAME = 'bitexit';

type ModelRef = Model | (() => Promise<Model>);

/**
 * An AI SDK language model (specification v4, what `ai` 7's generateText and streamText take)
 * backed by a bitexit Model running in this process. The prompt is rendered with the model's
 * chat template; the engine's prefix reuse means a conversation that grows by a turn only
 * prefills the new tokens (`usage.inputTokens.cacheRead`).
 */
export class BitexitLanguageModel implements LanguageModelV4 {
  readonly specificationVersion = 'v4' as const;
  readonly provider = PROVIDER_NAME;
  readonly modelId: string;
  /** No URLs are downloaded by the model itself (it takes text only). */
  readonly supportedUrls: Record<string, RegExp[]> = {};
  private readonly ref: ModelRef;
  private loaded: Promise<Model> | null = null;
  private readonly settings: BitexitModelSettings;

  /** `model`: a loaded Model, or a function that loads one on first use. */
  constructor(model: ModelRef, settings: BitexitModelSettings = {}) {
    this.ref = model;
    this.settings = settings;
    this.modelId = settings.modelId ?? (typeof model === 'function' ? 'bitexit' : fileName(model.info.path));
  }

  /** The underlying bitexit Model (loaded on first use when a loader was given). */
  model(): Promise<Model> {
    if (!this.loaded) {
      this.loaded = typeof this.ref === 'function' ? this.ref() : Promise.resolve(this.ref);
      this.loaded.catch(() => (this.loaded = null)); // a failed load may be retried
    }
    return this.loaded;
  }

  async doGenerate(options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    const { messages, chatOptions, warnings } = this.prepare(options);
    const model = await this.model();
    const timestamp = new Date();
    const result = await model.chat(messages, { ...chatOptions, ...(options.abortSignal ? { signal: options.abortSignal } : {}) }).result;
    if (result.stats.finishReason === 'abort') throw abortError(options.abortSignal);
    return {
      content: result.text ? [{ type: 'text', text: result.text }] : [],
      finishReason: finishReason(result.stats.finishReason),
      usage: usage(result),
      providerMetadata: metadata(result),
      warnings,
      response: { timestamp, modelId: this.modelId },
    };
  }

  async doStream(options: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
    const { messages, chatOptions, warnings } = this.prepare(options);
    const model = await this.model();
    const timestamp = new Date();
    // Ends the generation when the consumer cancels the stream or the caller aborts.
    const stop = new AbortController();
    const generation = model.chat(messages, { ...chatOptions, signal: stop.signal });
    const outer = options.abortSignal;
    const onAbort = () => stop.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    const chunks = generation[Symbol.asyncIterator]();
    const textId = 'text-0';
    let textStarted = false;
    const modelId = this.modelId;
    const done = () => outer?.removeEventListener('abort', onAbort);

    const stream = new ReadableStream<LanguageModelV4StreamPart>({
      start(controller) {
        controller.enqueue({ type: 'stream-start', warnings });
        controller.enqueue({ type: 'response-metadata', timestamp, modelId });
      },
      // Pull-driven: the engine decodes the next token only when the consumer wants it.
      async pull(controller) {
        try {
          const step = await chunks.next();
          if (!step.done) {
            if (options.includeRawChunks) controller.enqueue({ type: 'raw', rawValue: { token: step.value.token, text: step.value.text } });
            if (step.value.text) {
              if (!textStarted) controller.enqueue({ type: 'text-start', id: textId });
              textStarted = true;
              controller.enqueue({ type: 'text-delta', id: textId, delta: step.value.text });
            }
            return;
          }
          done();
          const result = await generation.result;
          if (result.stats.finishReason === 'abort') {
            controller.error(abortError(outer));
            return;
          }
          if (textStarted) controller.enqueue({ type: 'text-end', id: textId });
          controller.enqueue({
            type: 'finish',
            finishReason: finishReason(result.stats.finishReason),
            usage: usage(result),
            providerMetadata: metadata(result),
          });
          controller.close();
        } catch (error) {
          done();
          controller.enqueue({ type: 'error', error });
          controller.close();
        }
      },
      async cancel() {
        done();
        stop.abort();
        await chunks.return?.();
      },
    });
    return { stream };
  }

  /** Messages and engine options of a call; every setting the engine cannot honour becomes a warning. */
  private prepare(options: LanguageModelV4CallOptions): { messages: ChatMessage[]; chatOptions: ChatOptions; warnings: SharedV4Warning[] } {
    const warnings: SharedV4Warning[] = [];
    const unsupported = (feature: string, details: string) => warnings.push({ type: 'unsupported', feature, details });
    if (options.tools?.length) unsupported('tools', 'bitexit models do not call tools; the tools were not offered to the model');
    if (options.toolChoice && options.toolChoice.type !== 'none' && options.tools?.length) unsupported('toolChoice', 'no tool calling');
    if (options.responseFormat?.type === 'json') {
      unsupported('responseFormat', 'JSON output is not enforced: the model generates free text, with no schema constraint');
    }
    if (options.presencePenalty !== undefined) unsupported('presencePenalty', 'use providerOptions.bitexit.repetitionPenalty (multiplicative)');
    if (options.frequencyPenalty !== undefined) unsupported('frequencyPenalty', 'use providerOptions.bitexit.repetitionPenalty (multiplicative)');
    if (options.reasoning !== undefined && options.reasoning !== 'provider-default' && options.reasoning !== 'none') {
      unsupported('reasoning', 'bitexit models have no reasoning mode');
    }
    const own = bitexitOptions(options.providerOptions?.[PROVIDER_NAME]);
    const messages = toChatMessages(options.prompt, warnings);
    const chatOptions: ChatOptions = {
      ...(this.settings.chatTemplate !== undefined ? { chatTemplate: this.settings.chatTemplate } : {}),
      ...(options.maxOutputTokens !== undefined ? { maxTokens: options.maxOutputTokens } : {}),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.topP !== undefined ? { topP: options.topP } : {}),
      ...(options.topK !== undefined ? { topK: options.topK } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.stopSequences?.length ? { stop: options.stopSequences } : {}),
      ...(own.minP !== undefined ? { minP: own.minP } : {}),
      ...(own.repetitionPenalty !== undefined ? { repetitionPenalty: own.repetitionPenalty } : {}),
      ...(own.earlyExit !== undefined ? { earlyExit: own.earlyExit } : {}),
    };
    return { messages, chatOptions, warnings };
  }
}

function bitexitOptions(value: JSONObject | undefined): BitexitCallOptions {
  if (value === undefined) return {};
  const out: BitexitCallOptions = {};
  for (const [key, v] of Object.entries(value)) {
    const bad = (expected: string) =>
      new InvalidArgumentError({ argument: `providerOptions.${PROVIDER_NAME}.${key}`, message: `providerOptions.${PROVIDER_NAME}.${key} must be ${expected}` });
    if (key === 'minP' || key === 'repetitionPenalty') {
      if (typeof v !== 'number') throw bad('a number');
      out[key] = v;
    } else if (key === 'earlyExit') {
      if (typeof v !== 'boolean') throw bad('a boolean');
      out.earlyExit = v;
    } else {
      throw new InvalidArgumentError({
        argument: `providerOptions.${PROVIDER_NAME}.${key}`,
        message: `unknown option providerOptions.${PROVIDER_NAME}.${key} (known: minP, repetitionPenalty, earlyExit)`,
      });
    }
  }
  return out;
}

/** eos and stop strings are a natural stop; a full KV cache is a length limit. */
export function finishReason(reason: FinishReason): LanguageModelV4FinishReason {
  switch (reason) {
    case 'eos':
    case 'stop':
      return { unified: 'stop', raw: reason };
    case 'length':
    case 'context':
      return { unified: 'length', raw: reason };
    case 'abort':
      return { unified: 'other', raw: reason };
  }
}

function usage(result: GenerationResult): LanguageModelV4Usage {
  const s = result.stats;
  return {
    inputTokens: { total: s.promptTokens, noCache: s.promptTokens - s.cachedPromptTokens, cacheRead: s.cachedPromptTokens, cacheWrite: undefined },
    outputTokens: { total: s.generatedTokens, text: s.generatedTokens, reasoning: 0 },
  };
}

/** bitexit's statistics of the call (JSON only: absent values are left out). */
function metadata(result: GenerationResult): SharedV4ProviderMetadata {
  const s = result.stats;
  const stats: JSONObject = {
    promptTokens: s.promptTokens,
    cachedPromptTokens: s.cachedPromptTokens,
    generatedTokens: s.generatedTokens,
    timeToFirstTokenMs: s.timeToFirstTokenMs,
    prefillTokensPerSecond: s.prefillTokensPerSecond,
    decodeTokensPerSecond: s.decodeTokensPerSecond,
    totalMs: s.totalMs,
    finishReason: s.finishReason,
    backend: s.backend,
  };
  if (s.earlyExit) stats.earlyExit = { ...s.earlyExit, histogram: [...s.earlyExit.histogram] };
  return { [PROVIDER_NAME]: stats };
}

/** What fetch rejects with when aborted: the signal's reason, else an AbortError. */
function abortError(signal: AbortSignal | undefined): unknown {
  if (signal?.reason !== undefined) return signal.reason;
  return new DOMException('The generation was aborted', 'AbortError');
}

function fileName(path: string): string {
  return path.split(/[\\/]/).pop() || path;
}
