import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSink } from '../byte-sink.js';
import { checkRange, type ByteSource } from '../byte-source.js';
import { FileAccessError } from '../errors.js';

function describe(e: unknown): string {
  const code = (e as { code?: string })?.code;
  switch (code) {
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    default:
      return code ? `cannot access (${code})` : `cannot access (${(e as Error)?.message ?? String(e)})`;
  }
}

/** ByteSource over a file on disk: reads by range through a FileHandle, never the whole file. */
class FileByteSource implements ByteSource {
  private closed = false;
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly fh: FileHandle,
  ) {}

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (this.closed) throw new FileAccessError(this.name, 'read after close');
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.fh.read(out, done, length - done, offset + done));
      } catch (e) {
        throw new FileAccessError(this.name, describe(e), { cause: e });
      }
      if (n === 0) throw new FileAccessError(this.name, `unexpected end of file at ${offset + done} (file changed while reading?)`);
      done += n;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

/** Opens a file for range reads. FileAccessError when missing, unreadable or not a regular file. */
export async function openFileSource(path: string): Promise<ByteSource> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new FileAccessError(path, describe(e), { cause: e });
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FileAccessError(path, st.isDirectory() ? 'is a directory, not a file' : 'is not a regular file');
    return new FileByteSource(path, st.size, fh);
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (e instanceof FileAccessError) throw e;
    throw new FileAccessError(path, describe(e), { cause: e });
  }
}

/** A ByteSink writing a new file (truncating any existing one). FileAccessError on I/O failure. */
export async function createFileSink(path: string): Promise<ByteSink> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'w');
  } catch (e) {
    throw new FileAccessError(path, describe(e), { cause: e });
  }
  let closed = false;
  return {
    async write(bytes: Uint8Array): Promise<void> {
      if (closed) throw new FileAccessError(path, 'write after close');
      let done = 0;
      try {
        while (done < bytes.byteLength) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done);
          done += bytesWritten;
        }
      } catch (e) {
        throw new FileAccessError(path, describe(e), { cause: e });
      }
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      try {
        await fh.close();
      } catch (e) {
        throw new FileAccessError(path, describe(e), { cause: e });
      }
    },
  };
}
