/** The streams and environment a CLI invocation uses; injected so `main()` is testable in-process. */
export interface OutputStream {
  write(chunk: string): unknown;
  /** True when the stream is an interactive terminal (progress bars are drawn only then, unless --progress). */
  isTTY?: boolean;
  columns?: number;
}

/** Standard input: read for the prompt by `run` (`-p -`, or no --prompt when it is not a terminal). */
export interface InputStream extends AsyncIterable<string | Uint8Array> {
  isTTY?: boolean;
}

export interface CliIO {
  /** Absent: there is no standard input to read (in-process use). */
  stdin?: InputStream;
  stdout: OutputStream;
  stderr: OutputStream;
  /** Environment variables (defaults to process.env). */
  env?: Record<string, string | undefined>;
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
