import { describe, expect, it } from 'vitest';
import { QueueFullError, RequestCancelledError } from './errors.js';
import { ModelQueue } from './queue.js';

describe('ModelQueue', () => {
  it('runs one request at a time, first in first out', async () => {
    const q = new ModelQueue('m', 8);
    const order: number[] = [];
    const jobs = [0, 1, 2, 3].map(async (i) => {
      const release = await q.acquire();
      order.push(i);
      expect(q.running).toBe(1);
      await new Promise((r) => setTimeout(r, 5));
      release();
    });
    expect(q.queued).toBe(3);
    await Promise.all(jobs);
    expect(order).toEqual([0, 1, 2, 3]);
    expect(q.running).toBe(0);
  });

  it('refuses at once when maxQueue requests already wait', async () => {
    const q = new ModelQueue('m', 1);
    const first = await q.acquire();
    const second = q.acquire();
    expect(() => q.acquire()).toThrow(QueueFullError);
    first();
    (await second)();
    expect(q.running + q.queued).toBe(0);
  });

  it('a cancelled waiter leaves the queue and the next one runs', async () => {
    const q = new ModelQueue('m', 4);
    const first = await q.acquire();
    const controller = new AbortController();
    const cancelled = q.acquire(controller.signal);
    const third = q.acquire();
    controller.abort();
    await expect(cancelled).rejects.toBeInstanceOf(RequestCancelledError);
    expect(q.queued).toBe(1);
    first();
    (await third)();
    expect(q.running).toBe(0);
  });

  it('releasing twice does not let two requests run', async () => {
    const q = new ModelQueue('m', 4);
    const first = await q.acquire();
    const second = q.acquire();
    const third = q.acquire();
    first();
    first();
    await second;
    expect(q.running).toBe(1);
    expect(q.queued).toBe(1);
    (await second)();
    (await third)();
  });
});
