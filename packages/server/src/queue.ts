import { QueueFullError, RequestCancelledError } from './errors.js';

interface Waiter {
  grant: (release: () => void) => void;
}

/**
 * First-in first-out admission for one model: one request generates at a
 * time (the engine holds a model for a whole generation), at most `maxQueue`
 * wait behind it, and a request beyond that is refused at once (429). A
 * waiting request whose client goes away leaves the queue.
 */
export class ModelQueue {
  private busy = false;
  private readonly waiting: Waiter[] = [];

  constructor(
    readonly modelId: string,
    readonly maxQueue: number,
  ) {}

  get running(): number {
    return this.busy ? 1 : 0;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves to a `release` function once it is this request's turn. Throws
   * QueueFullError synchronously when the queue is full, so the caller can
   * still answer with a status code.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new RequestCancelledError());
    if (!this.busy) {
      this.busy = true;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxQueue) throw new QueueFullError(this.modelId, this.maxQueue);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new RequestCancelledError());
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.grant(this.releaser());
      else this.busy = false;
    };
  }
}
