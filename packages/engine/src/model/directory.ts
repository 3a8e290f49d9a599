import type { ByteSource } from '@bitexit/format';

/**
 * Read access to the files of a model directory (Hugging Face layout). The
 * Node implementation is in node.ts; a browser can implement it over fetch()
 * or a FileSystemDirectoryHandle.
 */
export interface ModelDirectory {
  /** Directory path or URL, used in error messages. */
  readonly name: string;
  /** The text of `file` inside the directory, or null when it does not exist. */
  readText(file: string): Promise<string | null>;
  /** Opens `file` for range reads; throws FileAccessError when it does not exist. */
  open(file: string): Promise<ByteSource>;
  /** Path or URL of `file`, for messages and ModelSource.path. */
  join(file: string): string;
}
