/** The streams and environment a CLI invocation uses; injected so `main()` is testable in-process. */
export interface OutputStream {
  write(chunk: string): unknown;
  /** True when the stream is an interactive terminal (progress bars are drawn only then, unless --progress). */
  isTTY?: boolean;
  columns?: number;
}

/** Standard input: a byte stream that may be an interactive terminal (`bitexit chat` reads it). */
export type InputStream = NodeJS.ReadableStream & { isTTY?: boolean };

export interface CliIO {
  stdout: OutputStream;
  stderr: OutputStream;
  /** Environment variables (defaults to process.env). */
  env?: Record<string, string | undefined>;
  /** Defaults to process.stdin. */
  stdin?: InputStream;
  /** Aborts a running generation or evaluation (bin.ts wires it to SIGINT). */
  signal?: AbortSignal;
}

/** Collects everything written, for tests and embedding. */
export class CapturedStream implements OutputStream {
  readonly chunks: string[] = [];
  constructor(readonly isTTY = false) {}
  write(chunk: string): boolean {
    this.chunks.push(String(chunk));
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}
