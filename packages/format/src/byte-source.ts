import { FileAccessError, ModelFormatError } from './errors.js';

/**
 * Random access to the bytes of one file. Readers never load a whole model
 * file into one buffer: they read headers first, then tensors by range.
 */
export interface ByteSource {
  /** Name used in error messages (usually the path). */
  readonly name: string;
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; throws ModelFormatError past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

/** A ByteSource over bytes already in memory (tests, browsers, fetched files). */
export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(readonly name: string, private readonly bytes: Uint8Array) {
    this.size = bytes.byteLength;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** A ByteSource over a browser Blob or File. */
export class BlobByteSource implements ByteSource {
  readonly size: number;
  constructor(readonly name: string, private readonly blob: Blob) {
    this.size = blob.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}

export function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ModelFormatError(src.name, `invalid read range offset=${offset} length=${length}`);
  }
  if (offset + length > src.size) {
    throw new ModelFormatError(
      src.name,
      `truncated: needs bytes ${offset}..${offset + length} but the file has ${src.size}`,
    );
  }
}

export { FileAccessError };
