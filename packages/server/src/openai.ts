import { randomUUID } from 'node:crypto';
import type { FinishReason, GenerationResult } from '@bitexit/engine';

/**
 * The response objects of OpenAI's chat and text completion endpoints, built
 * from engine results. Field order and presence follow api.openai.com, so
 * strict clients (the `openai` package, the AI SDK) parse them unchanged.
 */

export type Endpoint = 'chat' | 'text';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type OpenAiFinishReason = 'stop' | 'length';

/** eos and stop strings are both 'stop' for OpenAI; a full context is a length limit. */
export function finishReason(reason: FinishReason): OpenAiFinishReason {
  return reason === 'eos' || reason === 'stop' ? 'stop' : 'length';
}

export function usageOf(result: GenerationResult): Usage {
  const { promptTokens, generatedTokens } = result.stats;
  return { prompt_tokens: promptTokens, completion_tokens: generatedTokens, total_tokens: promptTokens + generatedTokens };
}

/** One response's identity, shared by all of its chunks. */
export interface ResponseIdentity {
  id: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

export function newIdentity(endpoint: Endpoint, model: string, fingerprint: string): ResponseIdentity {
  const id = `${endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
  return { id, created: Math.floor(Date.now() / 1000), model, system_fingerprint: fingerprint };
}

export function chatCompletion(who: ResponseIdentity, result: GenerationResult) {
  return {
    id: who.id,
    object: 'chat.completion',
    created: who.created,
    model: who.model,
    system_fingerprint: who.system_fingerprint,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: result.text, refusal: null },
        logprobs: null,
        finish_reason: finishReason(result.stats.finishReason),
      },
    ],
    usage: usageOf(result),
  };
}

export function textCompletion(who: ResponseIdentity, result: GenerationResult) {
  return {
    id: who.id,
    object: 'text_completion',
    created: who.created,
    model: who.model,
    system_fingerprint: who.system_fingerprint,
    choices: [{ text: result.text, index: 0, logprobs: null, finish_reason: finishReason(result.stats.finishReason) }],
    usage: usageOf(result),
  };
}

/**
 * Chunks of a streamed response. `usage` is null on every chunk when the
 * client asked for usage (stream_options.include_usage) and then comes alone
 * in a last chunk with no choices, as OpenAI does; absent otherwise.
 */
export class ChunkBuilder {
  constructor(
    private readonly endpoint: Endpoint,
    private readonly who: ResponseIdentity,
    private readonly includeUsage: boolean,
  ) {}

  private base(choices: unknown[]) {
    return {
      id: this.who.id,
      object: this.endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion',
      created: this.who.created,
      model: this.who.model,
      system_fingerprint: this.who.system_fingerprint,
      choices,
      ...(this.includeUsage ? { usage: null } : {}),
    };
  }

  /** The first chat chunk carries the role. */
  role() {
    return this.base([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]);
  }

  text(text: string) {
    return this.base([
      this.endpoint === 'chat'
        ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: null }
        : { text, index: 0, logprobs: null, finish_reason: null },
    ]);
  }

  finish(reason: OpenAiFinishReason) {
    return this.base([
      this.endpoint === 'chat'
        ? { index: 0, delta: {}, logprobs: null, finish_reason: reason }
        : { text: '', index: 0, logprobs: null, finish_reason: reason },
    ]);
  }

  usage(usage: Usage) {
    return { ...this.base([]), usage };
  }
}
