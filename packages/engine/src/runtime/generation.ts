import type { Generation, GenerationChunk, GenerationResult } from '../api.js';

/**
 * Adapts an async generator of chunks to the public Generation: iterate it
 * for streaming, or just await `result` (which then drains it).
 */
export class GenerationStream implements Generation {
  private readonly source: AsyncGenerator<GenerationChunk, GenerationResult>;
  private started = false;
  private resolve!: (r: GenerationResult) => void;
  private reject!: (e: unknown) => void;
  private readonly settled: Promise<GenerationResult>;

  /** `partial` builds the result when the consumer stops iterating early. */
  constructor(
    source: AsyncGenerator<GenerationChunk, GenerationResult>,
    private readonly partial: () => GenerationResult,
  ) {
    this.source = source;
    this.settled = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // Unobserved failures are reported through the iterator or `result`, not as unhandled rejections.
    this.settled.catch(() => undefined);
  }

  get result(): Promise<GenerationResult> {
    if (!this.started) void this.drain();
    return this.settled;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.started) throw new Error('a Generation can be iterated only once');
    this.started = true;
    try {
      for (;;) {
        const step = await this.source.next();
        if (step.done) {
          this.resolve(step.value);
          return;
        }
        yield step.value;
      }
    } catch (e) {
      this.reject(e);
      throw e;
    } finally {
      // Breaking out of the loop early ends the generation (and releases the model).
      await this.source.return(undefined as never).catch(() => undefined);
      this.resolve(this.partial());
    }
  }

  private async drain(): Promise<void> {
    this.started = true;
    try {
      for (;;) {
        const step = await this.source.next();
        if (step.done) {
          this.resolve(step.value);
          return;
        }
      }
    } catch (e) {
      this.reject(e);
    }
  }
}

/** The result of a generation aborted before its first step: nothing generated, finish reason `abort`. */
export function abortedBeforeStart(backend: string): GenerationResult {
  return {
    text: '',
    promptTokens: [],
    tokens: [],
    stats: {
      promptTokens: 0,
      cachedPromptTokens: 0,
      generatedTokens: 0,
      timeToFirstTokenMs: 0,
      prefillTokensPerSecond: 0,
      decodeTokensPerSecond: 0,
      totalMs: 0,
      finishReason: 'abort',
      backend,
    },
  };
}
