/**
 * Byte helpers. The SentencePiece tokenizer works on "byte strings": JS
 * strings whose every char code is one byte (0..255), so pieces that are not
 * valid UTF-8 on their own (raw-byte pieces of a llama2.c tokenizer.bin) can
 * be looked up and concatenated exactly, and Map<string, id> lookups stay fast.
 */

const encoder = new TextEncoder();

/** UTF-8 bytes of `s` as a byte string. */
export function utf8ByteString(s: string): string {
  return bytesToByteString(encoder.encode(s));
}

/** Bytes to a byte string (one char per byte). */
export function bytesToByteString(bytes: Uint8Array): string {
  let out = '';
  const CHUNK = 8192;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + CHUNK) as unknown as number[]);
  }
  return out;
}

/** A byte string back to bytes. */
export function byteStringToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Number of bytes of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes), as llama.cpp's unicode_len_utf8. */
export function utf8SequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead < 0xc0) return 1;
  if (lead < 0xe0) return 2;
  if (lead < 0xf0) return 3;
  return 4;
}

/** Parses '<0xNN>' (hex digits in either case) to the byte value, or -1. */
export function parseByteToken(piece: string): number {
  if (piece.length !== 6 || piece[0] !== '<' || piece[1] !== '0' || piece[2] !== 'x' || piece[5] !== '>') return -1;
  const hex = piece.slice(3, 5);
  if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return -1;
  return parseInt(hex, 16);
}

/**
 * Incremental UTF-8 to text: bytes go in, only complete characters come out.
 * A sequence that is still incomplete is held back (never turned into U+FFFD
 * while it can still complete); invalid bytes become U+FFFD as the WHATWG
 * decoder does, so chunked output concatenates to the one-shot decode.
 */
export class Utf8Stream {
  private decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  push(bytes: Uint8Array): string {
    if (bytes.length === 0) return '';
    return this.decoder.decode(bytes, { stream: true });
  }

  /** Ends the stream: an unfinished sequence becomes U+FFFD. The stream can be reused afterwards. */
  flush(): string {
    return this.decoder.decode();
  }
}

/** Growable byte buffer. */
export class ByteBuffer {
  private buf = new Uint8Array(64);
  length = 0;

  pushByte(b: number): void {
    if (this.length === this.buf.length) this.grow(this.length + 1);
    this.buf[this.length++] = b;
  }

  pushBytes(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) this.grow(this.length + bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Appends a byte string. */
  pushByteString(s: string): void {
    if (this.length + s.length > this.buf.length) this.grow(this.length + s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.length++] = s.charCodeAt(i) & 0xff;
  }

  /** Returns the content and empties the buffer. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.length);
    this.length = 0;
    return out;
  }

  private grow(min: number): void {
    let n = this.buf.length * 2;
    while (n < min) n *= 2;
    const b = new Uint8Array(n);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
  }
}
