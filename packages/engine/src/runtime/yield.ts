/**
 * Long loops (generation, perplexity) give the event loop a turn every
 * `intervalMs`, so timers, signal handlers and AbortSignals fired from them
 * take effect mid-task. setImmediate in Node (no 1 ms timer clamp), a
 * zero-delay timeout elsewhere.
 */
export function createYielder(intervalMs = 16): () => Promise<void> {
  const tick: (cb: () => void) => unknown =
    typeof (globalThis as { setImmediate?: unknown }).setImmediate === 'function'
      ? (cb) => (globalThis as unknown as { setImmediate: (cb: () => void) => unknown }).setImmediate(cb)
      : (cb) => setTimeout(cb, 0);
  let last = performance.now();
  return async () => {
    const t = performance.now();
    if (t - last < intervalMs) return;
    last = t;
    await new Promise<void>((resolve) => tick(resolve));
  };
}
