import { BitexitError } from '@bitexit/format';

/** The requested backend exists but cannot run here; `reason` says why in plain words. */
export class BackendUnavailableError extends BitexitError {
  constructor(readonly backend: string, readonly reason: string) {
    super('E_BACKEND_UNAVAILABLE', `backend '${backend}' is unavailable: ${reason}`);
  }
}

/** No backend of that name is registered (typo, or its package is not installed/imported). */
export class UnknownBackendError extends BitexitError {
  constructor(name: string, known: readonly string[]) {
    super('E_UNKNOWN_BACKEND', `unknown backend '${name}' (registered: ${known.join(', ') || 'none'})`);
  }
}

/** A backend was asked for an operation (or weight type) it has no kernel for. */
export class UnsupportedOpError extends BitexitError {
  constructor(op: string, backend: string, detail = '') {
    super('E_UNSUPPORTED_OP', `kernel '${op}' is not registered for backend '${backend}'${detail ? `: ${detail}` : ''}`);
  }
}

/** A program's shapes or references do not fit together. */
export class InvalidProgramError extends BitexitError {
  constructor(message: string) {
    super('E_INVALID_PROGRAM', message);
  }
}

/** The device was lost (driver reset, GPU removed, browser tab backgrounded...). Recreate the backend. */
export class DeviceLostError extends BitexitError {
  constructor(backend: string, reason: string) {
    super('E_DEVICE_LOST', `backend '${backend}': device lost: ${reason}`);
  }
}

/** An allocation failed on the device or on the host. */
export class OutOfMemoryError extends BitexitError {
  constructor(backend: string, what: string, bytes: number) {
    super('E_OUT_OF_MEMORY', `backend '${backend}': out of memory allocating ${what} (${bytes} bytes)`);
  }
}

/** A resource was used after release, or belongs to another backend instance. */
export class InvalidHandleError extends BitexitError {
  constructor(message: string) {
    super('E_INVALID_HANDLE', message);
  }
}
