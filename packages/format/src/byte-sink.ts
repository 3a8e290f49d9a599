/**
 * A sequential byte destination (a file being written, or memory). Writers
 * call `write` in order and `close` once at the end; they never seek back, so
 * a sink can be a stream.
 */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** Collects written bytes in memory; `bytes()` concatenates them. */
export class MemoryByteSink implements ByteSink {
  private chunks: Uint8Array[] = [];
  private length = 0;
  closed = false;

  async write(bytes: Uint8Array): Promise<void> {
    if (this.closed) throw new Error('MemoryByteSink: write after close');
    // Copy: callers may reuse their buffers after write resolves.
    this.chunks.push(bytes.slice());
    this.length += bytes.byteLength;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  get byteLength(): number {
    return this.length;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    this.chunks = [out];
    return out;
  }
}
