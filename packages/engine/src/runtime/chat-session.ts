import type { ChatMessage, GenerateOptions, Generation, GenerationChunk, GenerationResult } from '../api.js';
import { chatPromptIds } from './chat-template.js';
import { ContextLengthExceededError, InvalidOptionError, NoChatTemplateError } from './errors.js';
import { abortedBeforeStart, GenerationStream } from './generation.js';
import type { Model } from './model.js';

export interface ChatSessionOptions {
  /** System prompt, rendered first in every turn (also settable through `setHistory`). */
  systemPrompt?: string;
  /** Jinja chat template to use instead of the model's own (required when the model carries none). */
  chatTemplate?: string;
  /**
   * Context overflow policy: when a turn's prompt leaves fewer than this many tokens of the context
   * free for the answer, the oldest whole turns are left out until it does. Default: a quarter of
   * the model's context length.
   */
  reserveTokens?: number;
}

/**
 * A conversation with a model (like node-llama-cpp's LlamaChatSession): it owns the message
 * history and the system prompt; `prompt(text)` renders the history with the chat template,
 * streams the answer and appends both to the history.
 *
 * KV reuse: every turn's prompt starts with the previous turn's prompt and answer, so the
 * engine's prefix reuse prefills only the new tokens (`stats.cachedPromptTokens` counts the
 * reused ones) as long as nothing else ran on the model in between.
 *
 * Context overflow policy: the system prompt is always kept; when the rendered prompt leaves
 * fewer than `reserveTokens` free, the oldest whole turns (a user message and everything up to
 * the next user message) are left out of what the model sees, never part of a message, until
 * the prompt takes at most half of `contextLength - reserveTokens`. The window only moves
 * forward, so the following turns reuse the KV cache again until the next overflow (each drop
 * costs one prefill of the turns kept). When even the system prompt and the new user message do
 * not fit (no token left to generate), `prompt` throws ContextLengthExceededError.
 * `getHistory()` still returns every message.
 *
 * Interruption: an answer ended by an AbortSignal (or by breaking out of the iteration) is kept
 * as far as it was generated; one aborted before its first token leaves the history unchanged,
 * as does an error.
 */
export class ChatSession {
  readonly model: Model;
  private readonly template: string;
  private readonly reserve: number;
  private system: string | null;
  /** The conversation after the system prompt. */
  private messages: ChatMessage[] = [];
  /** Index in `messages` of the first message the model still sees (overflow policy). */
  private windowStart = 0;
  private lock: Promise<void> = Promise.resolve();

  constructor(model: Model, options: ChatSessionOptions = {}) {
    const template = options.chatTemplate ?? model.tokenizer.chatTemplate;
    if (!template) throw new NoChatTemplateError(model.info.path);
    if (options.systemPrompt !== undefined && typeof options.systemPrompt !== 'string') {
      throw new InvalidOptionError('systemPrompt must be a string');
    }
    const ctx = model.info.contextLength;
    const reserve = options.reserveTokens ?? Math.floor(ctx / 4);
    if (!Number.isInteger(reserve) || reserve < 0 || reserve >= ctx) {
      throw new InvalidOptionError(`reserveTokens must be an integer in [0, ${ctx - 1}] (the context holds ${ctx}), got ${options.reserveTokens}`);
    }
    this.model = model;
    this.template = template;
    this.reserve = reserve;
    this.system = options.systemPrompt ?? null;
  }

  get systemPrompt(): string | null {
    return this.system;
  }

  /** How many of the oldest history messages the overflow policy has left out of the model's context. */
  get droppedMessages(): number {
    return this.windowStart;
  }

  /**
   * Sends a user message: a streaming Generation of the answer (as `Model.generate`). The user
   * message and the answer join the history when the answer ends.
   */
  prompt(text: string, options: GenerateOptions = {}): Generation {
    if (typeof text !== 'string') throw new InvalidOptionError('the user message must be a string');
    let partial: GenerationResult | null = null;
    const turn = this.turn(text, options, (r) => (partial = r));
    return new GenerationStream(turn, () => partial ?? abortedBeforeStart(this.model.info.backend));
  }

  /** The whole conversation: the system prompt first (when there is one), then every message. */
  getHistory(): ChatMessage[] {
    return [...(this.system !== null ? [{ role: 'system' as const, content: this.system }] : []), ...this.messages.map((m) => ({ ...m }))];
  }

  /**
   * Replaces the conversation (e.g. one saved with `getHistory()`). A leading system message
   * becomes the system prompt; without one the session has none.
   */
  setHistory(messages: readonly ChatMessage[]): void {
    if (!Array.isArray(messages)) throw new InvalidOptionError('the history must be an array of messages');
    messages.forEach((m, i) => {
      if (typeof m !== 'object' || m === null || !['system', 'user', 'assistant'].includes(m.role) || typeof m.content !== 'string') {
        throw new InvalidOptionError(`history message ${i} must be { role: 'system' | 'user' | 'assistant', content: string }`);
      }
      if (m.role === 'system' && i > 0) throw new InvalidOptionError(`history message ${i}: a system message may only come first`);
    });
    const [first, ...rest] = messages;
    this.system = first?.role === 'system' ? first.content : null;
    this.messages = (first?.role === 'system' ? rest : [...messages]).map((m) => ({ role: m.role, content: m.content }));
    this.windowStart = 0;
  }

  /** Forgets the conversation; the system prompt stays. */
  reset(): void {
    this.messages = [];
    this.windowStart = 0;
  }

  /**
   * The prompt ids of the turn: system prompt + history from the window start + the new user
   * message. When the answer would have fewer than `reserve` tokens, the window moves forward by
   * whole turns until the prompt takes at most half of the space the reserve leaves, so several
   * turns follow (reusing the KV cache) before the next drop.
   */
  private fitPrompt(user: ChatMessage): number[] {
    const ctx = this.model.info.contextLength;
    const tok = this.model.tokenizer;
    const render = () =>
      chatPromptIds(tok, this.template, [
        ...(this.system !== null ? [{ role: 'system' as const, content: this.system }] : []),
        ...this.messages.slice(this.windowStart),
        user,
      ]);
    let ids = render();
    if (ids.length + this.reserve <= ctx) return ids;
    const target = Math.floor((ctx - this.reserve) / 2);
    while (ids.length > target && this.windowStart < this.messages.length) {
      // Drop the oldest turn: up to (not including) the next user message.
      let next = this.windowStart + 1;
      while (next < this.messages.length && this.messages[next]!.role !== 'user') next++;
      this.windowStart = next;
      ids = render();
    }
    // With nothing left to drop, a prompt that leaves at least one token free still runs.
    if (ids.length >= ctx) throw new ContextLengthExceededError(ids.length + 1, ctx);
    return ids;
  }

  private async *turn(
    text: string,
    options: GenerateOptions,
    report: (r: GenerationResult) => void,
  ): AsyncGenerator<GenerationChunk, GenerationResult> {
    // One turn at a time: the next one renders the history this one completes.
    const prev = this.lock;
    let release!: () => void;
    this.lock = new Promise((r) => (release = r));
    await prev;
    let finished = false;
    let generation: Generation | null = null;
    const user: ChatMessage = { role: 'user', content: text };
    try {
      generation = this.model.generate(this.fitPrompt(user), options);
      for await (const chunk of generation) yield chunk;
      finished = true;
    } finally {
      try {
        if (generation) {
          let result = await generation.result;
          // Breaking out of the iteration is an abort as seen from the session.
          if (!finished) result = { ...result, stats: { ...result.stats, finishReason: 'abort' } };
          report(result);
          if (result.stats.finishReason !== 'abort' || result.tokens.length > 0) {
            this.messages.push(user, { role: 'assistant', content: result.text });
          }
        }
      } finally {
        release();
      }
    }
    return generation ? await generation.result : abortedBeforeStart(this.model.info.backend);
  }
}
