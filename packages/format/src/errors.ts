/**
 * Typed errors shared by every bitexit package. Each carries a stable `code`
 * so callers (the CLI above all) can tell user mistakes from bugs and print
 * one plain line instead of a stack trace.
 */
export class BitexitError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A model or tokenizer file is malformed, truncated, hostile or of the wrong kind. */
export class ModelFormatError extends BitexitError {
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super('E_MODEL_FORMAT', `${file}: ${problem}`, options);
    this.file = file;
  }
}

/**
 * A tensor type this build cannot load or decode (e.g. a GGUF IQ2_XXS). `advice`
 * (appended after a colon) says what is supported and what to do.
 */
export class UnsupportedTensorTypeError extends BitexitError {
  readonly tensorType: string;
  constructor(file: string, tensor: string, type: string, advice?: string) {
    super('E_UNSUPPORTED_TENSOR_TYPE', `${file}: tensor '${tensor}' has unsupported tensor type ${type}${advice ? `: ${advice}` : ''}`);
    this.tensorType = type;
  }
}

/** The model's architecture is not one bitexit runs. */
export class UnsupportedArchitectureError extends BitexitError {
  constructor(file: string, arch: string, supported: readonly string[]) {
    super('E_UNSUPPORTED_ARCHITECTURE', `${file}: unsupported architecture '${arch}' (supported: ${supported.join(', ')})`);
  }
}

/** A file that should be there is not, or cannot be read. */
export class FileAccessError extends BitexitError {
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super('E_FILE_ACCESS', `${file}: ${problem}`, options);
  }
}

export function isBitexitError(e: unknown): e is BitexitError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && (e as unknown as { code: string }).code.startsWith('E_');
}
