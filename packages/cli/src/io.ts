/** The streams and environment a CLI invocation uses; injected so `main()` is testable in-process. */
export interface OutputStream {
  write(chunk: string): unknown;
  /** True when the stream is an interactive terminal (progress bars are drawn only then, unless --progress). */
  isTTY?: boolean;
  columns?: number;
}

/** Standard input: read for the prompt by `run` (`-p -`, or no --prompt when it is not a terminal) and by `bitexit chat` (a byte stream that may be an interactive terminal). */
export type InputStream = NodeJS.ReadableStream & { isTTY?: boolean };

export interface CliIO {
  /**
   * Standard input. Absent (in-process use): `run` reads no prompt from it;
   * `chat`, which cannot work without one, uses process.stdin.
   */
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

/** Reads all of standard input as UTF-8, without the one line break `echo` adds. */
export async function readInputText(stdin: InputStream): Promise<string> {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let text = '';
  for await (const chunk of stdin) text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
  text += decoder.decode();
  return text.replace(/\r?\n$/, '');
}
