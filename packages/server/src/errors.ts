import { BitexitError } from '@bitexit/format';

/** OpenAI's error `type` values that this server uses. */
export type ApiErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';

/** The body of every error response, exactly OpenAI's shape. */
export interface ApiErrorBody {
  error: { message: string; type: ApiErrorType; param: string | null; code: string | null };
}

/**
 * A request the server answers with an HTTP error status and OpenAI's error
 * body. Thrown from handlers and hooks; the error handler turns it into the response.
 */
export class ApiError extends BitexitError {
  readonly statusCode: number;
  readonly type: ApiErrorType;
  readonly param: string | null;
  readonly apiCode: string | null;

  constructor(statusCode: number, message: string, options: { type?: ApiErrorType; param?: string | null; code?: string | null } = {}) {
    super('E_API', message);
    this.statusCode = statusCode;
    this.type = options.type ?? (statusCode >= 500 ? 'server_error' : 'invalid_request_error');
    this.param = options.param ?? null;
    this.apiCode = options.code ?? null;
  }

  toBody(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.apiCode } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, message, { param, code });

/** The queue of a model is full: the client should retry later. */
export class QueueFullError extends ApiError {
  constructor(model: string, maxQueue: number) {
    super(429, `the server is busy: ${maxQueue} requests are already waiting for model '${model}'; retry later`, {
      type: 'rate_limit_error',
      code: 'queue_full',
    });
  }
}

/** The request was cancelled (client disconnected) while it waited in the queue. */
export class RequestCancelledError extends BitexitError {
  constructor() {
    super('E_ABORTED', 'the request was cancelled before it ran');
  }
}
