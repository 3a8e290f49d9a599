import { BitexitError } from '@bitexit/format';

/** A mistake in how the command was called (bad flag value, missing argument): exit code 2. */
export class UsageError extends BitexitError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}

/** Exit codes of the `bitexit` binary. */
export const EXIT_OK = 0;
/** A user-facing failure: missing or corrupt file, unavailable backend... (any BitexitError). */
export const EXIT_FAILURE = 1;
/** Bad command line. */
export const EXIT_USAGE = 2;
/** A bug: the stack trace is printed (BSD sysexits EX_SOFTWARE). */
export const EXIT_INTERNAL = 70;
/** Interrupted by SIGINT. */
export const EXIT_INTERRUPTED = 130;

const SYSTEM_FILE_ERRORS = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EMFILE']);

/**
 * Node's own file-system errors (ENOENT...) are user mistakes, not bugs, even
 * when a lower layer forgot to wrap them in a FileAccessError.
 */
export function isSystemFileError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && SYSTEM_FILE_ERRORS.has((e as NodeJS.ErrnoException).code!);
}

/** One line, whatever the message: the CLI prints `bitexit: <line>`. */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, ' ').trim();
}
