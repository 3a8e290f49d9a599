import type { ByteSource } from '../byte-source.js';
import { ModelFormatError } from '../errors.js';

const DEFAULT_CHUNK = 1 << 20;
const TWO_32 = 2 ** 32;

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Sequential little-endian reader over a ByteSource that fetches the file in
 * bounded chunks. Every read is checked against the bytes left before any
 * allocation, so hostile lengths fail with a ModelFormatError naming the file.
 *
 * Hot loops may use the synchronous `*Now` accessors after `has(n)` or
 * `await need(n)`; the async accessors call `need` themselves.
 */
export class RangeReader {
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos: number;

  constructor(
    readonly source: ByteSource,
    start = 0,
    readonly end: number = source.size,
    private readonly chunk: number = DEFAULT_CHUNK,
  ) {
    this.pos = start;
  }

  get file(): string {
    return this.source.name;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(problem: string): never {
    throw new ModelFormatError(this.source.name, problem);
  }

  /** True when `n` bytes at `pos` are already buffered. */
  has(n: number): boolean {
    return this.pos - this.bufStart + n <= this.buf.length && this.pos >= this.bufStart;
  }

  /** Ensures `n` bytes at `pos` are buffered; throws ModelFormatError when the file is too short. */
  async need(n: number, what: string): Promise<void> {
    if (this.has(n)) return;
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) {
      this.fail(`truncated while reading ${what} at offset ${this.pos}: needs ${n} bytes but only ${Math.max(0, this.remaining)} remain`);
    }
    const len = Math.min(this.end - this.pos, Math.max(n, this.chunk));
    // Keep the unread tail of the buffer so no byte is fetched twice.
    const bufEnd = this.bufStart + this.buf.length;
    const keep = this.pos >= this.bufStart && this.pos < bufEnd ? bufEnd - this.pos : 0;
    const from = this.pos + keep;
    const fresh = await this.source.read(from, len - keep);
    if (fresh.byteLength !== len - keep) this.fail(`short read at offset ${from}: wanted ${len - keep} bytes, got ${fresh.byteLength}`);
    let bytes = fresh;
    if (keep > 0) {
      bytes = new Uint8Array(len);
      bytes.set(this.buf.subarray(this.pos - this.bufStart), 0);
      bytes.set(fresh, keep);
    }
    this.buf = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.bufStart = this.pos;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u8Now(): number {
    return this.view.getUint8(this.at(1));
  }
  i8Now(): number {
    return this.view.getInt8(this.at(1));
  }
  u16Now(): number {
    return this.view.getUint16(this.at(2), true);
  }
  i16Now(): number {
    return this.view.getInt16(this.at(2), true);
  }
  u32Now(): number {
    return this.view.getUint32(this.at(4), true);
  }
  i32Now(): number {
    return this.view.getInt32(this.at(4), true);
  }
  f32Now(): number {
    return this.view.getFloat32(this.at(4), true);
  }
  f64Now(): number {
    return this.view.getFloat64(this.at(8), true);
  }
  /** uint64 as a number when it is a safe integer, otherwise a bigint. */
  u64Now(): number | bigint {
    const o = this.at(8);
    const lo = this.view.getUint32(o, true);
    const hi = this.view.getUint32(o + 4, true);
    if (hi < 0x200000) return hi * TWO_32 + lo;
    return this.view.getBigUint64(o, true);
  }
  /** int64 as a number when it is a safe integer, otherwise a bigint. */
  i64Now(): number | bigint {
    const o = this.at(8);
    const v = this.view.getBigInt64(o, true);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  /** uint64 used as a size/count: must be a safe integer, else ModelFormatError. */
  sizeNow(what: string): number {
    const at = this.pos;
    const v = this.u64Now();
    if (typeof v === 'bigint') this.fail(`${what} at offset ${at} is absurdly large (${v})`);
    return v;
  }

  async u8(what: string): Promise<number> {
    await this.need(1, what);
    return this.u8Now();
  }
  async u32(what: string): Promise<number> {
    await this.need(4, what);
    return this.u32Now();
  }
  async i32(what: string): Promise<number> {
    await this.need(4, what);
    return this.i32Now();
  }
  async f32(what: string): Promise<number> {
    await this.need(4, what);
    return this.f32Now();
  }
  async u64(what: string): Promise<number | bigint> {
    await this.need(8, what);
    return this.u64Now();
  }
  async size(what: string): Promise<number> {
    await this.need(8, what);
    return this.sizeNow(what);
  }

  /** Raw bytes (a view into the buffer: copy if kept beyond the next read). */
  async bytes(n: number, what: string): Promise<Uint8Array> {
    await this.need(n, what);
    const o = this.at(n);
    return this.buf.subarray(o, o + n);
  }

  /** Copy of `n` raw bytes. */
  async bytesCopy(n: number, what: string): Promise<Uint8Array> {
    return (await this.bytes(n, what)).slice();
  }

  /** UTF-8 text of `n` bytes (invalid sequences become U+FFFD). */
  async text(n: number, what: string): Promise<string> {
    await this.need(n, what);
    return this.textNow(n);
  }

  textNow(n: number): string {
    const o = this.at(n);
    // Fast path for short ASCII (most vocab pieces and keys).
    if (n <= 32) {
      let ascii = true;
      for (let i = 0; i < n; i++) if (this.buf[o + i] > 0x7f) { ascii = false; break; }
      if (ascii) return String.fromCharCode.apply(null, this.buf.subarray(o, o + n) as unknown as number[]);
    }
    return utf8.decode(this.buf.subarray(o, o + n));
  }

  skip(n: number, what: string): void {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.remaining) {
      this.fail(`truncated while skipping ${what} at offset ${this.pos}: needs ${n} bytes but only ${Math.max(0, this.remaining)} remain`);
    }
    this.pos += n;
  }
}

/** Utility for formats: format a byte count check. */
export function ensureWithin(file: string, offset: number, length: number, size: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new ModelFormatError(file, `${what} (bytes ${offset}..${offset + length}) lies outside the file of ${size} bytes`);
  }
}
