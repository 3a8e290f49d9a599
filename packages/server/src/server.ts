import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { basename, extname } from 'node:path';
import { PassThrough } from 'node:stream';
import cors from '@fastify/cors';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { GenerateOptions, Generation, GenerationChunk, Model } from '@bitexit/engine';
import { BitexitError, isBitexitError } from '@bitexit/format';
import { ChatTemplateError, renderChatTemplate } from '@bitexit/tokenizer';
import { BUILTIN_CHAT_TEMPLATES } from './chat-templates.js';
import { ApiError, RequestCancelledError, invalidRequest } from './errors.js';
import { ChunkBuilder, chatCompletion, finishReason, newIdentity, textCompletion, usageOf, type Endpoint } from './openai.js';
import { ModelQueue } from './queue.js';
import {
  NEUTRAL_VALUES,
  chatCompletionSchema,
  completionSchema,
  type ChatCompletionBody,
  type CompletionBody,
} from './schemas.js';

export interface ServedModel {
  model: Model;
  /** The name clients pass as `model` (default: the model file's name without its extension). */
  id?: string;
  /**
   * Jinja chat template used for /v1/chat/completions instead of the model's
   * own (see `loadChatTemplate`). Without either, chat completions are refused
   * with a 400 that names the fix.
   */
  chatTemplate?: string;
}

export interface ServerOptions {
  /** The models served, each with its own FIFO queue. The server does not dispose them. */
  models: ServedModel[];
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Requests that may wait per model behind the one generating; more get 429. Default 16. */
  maxQueue?: number;
  /** Origin(s) allowed by CORS (`*` for any); none by default. */
  cors?: string | string[];
  /** Largest accepted request body in bytes (413 above). Default 1 MiB. */
  bodyLimit?: number;
  /** A request body must arrive within this many ms (408 after), and a stalled reader is dropped after it. Default 10 s. */
  requestTimeoutMs?: number;
  /** Where to report one line per generation (tokens, finish reason, time) and server errors (500s); default: nowhere. */
  log?: (line: string) => void;
}

export interface BitexitServer {
  readonly app: FastifyInstance;
  /** The `model` names clients use, in the order given. */
  readonly modelIds: string[];
  /** Starts listening; resolves to the base URL, e.g. http://127.0.0.1:8080. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  /** Cancels running generations and closes every connection. */
  close(): Promise<void>;
}

interface Served {
  id: string;
  model: Model;
  chatTemplate: string | null;
  queue: ModelQueue;
  fingerprint: string;
}

/** A validated request turned into engine input. */
interface Prepared {
  endpoint: Endpoint;
  served: Served;
  promptIds: number[];
  options: GenerateOptions;
  stream: boolean;
  includeUsage: boolean;
}

const DEFAULT_BODY_LIMIT = 1 << 20;
const DEFAULT_TIMEOUT_MS = 10_000;
/** OpenAI's default for /v1/completions. */
const DEFAULT_COMPLETION_TOKENS = 16;

const ROUTES: Record<string, string> = {
  '/health': 'GET, HEAD',
  '/v1/models': 'GET, HEAD',
  '/v1/chat/completions': 'POST',
  '/v1/completions': 'POST',
};

export async function createServer(options: ServerOptions): Promise<BitexitServer> {
  if (options.models.length === 0) throw new BitexitError('E_INVALID_OPTION', 'createServer needs at least one model');
  const maxQueue = options.maxQueue ?? 16;
  if (!Number.isInteger(maxQueue) || maxQueue < 0) throw new BitexitError('E_INVALID_OPTION', `maxQueue must be a non-negative integer, got ${maxQueue}`);
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const log = options.log ?? (() => undefined);

  const served = new Map<string, Served>();
  for (const m of options.models) {
    if (!m.model.hasTokenizer) throw new BitexitError('E_NO_TOKENIZER', `${m.model.info.path}: the model carries no tokenizer; load it with one to serve it`);
    const id = m.id ?? basename(m.model.info.path, extname(m.model.info.path));
    if (served.has(id)) throw new BitexitError('E_INVALID_OPTION', `two served models are named '${id}'`);
    served.set(id, {
      id,
      model: m.model,
      chatTemplate: m.chatTemplate ?? m.model.tokenizer.chatTemplate ?? null,
      queue: new ModelQueue(id, maxQueue),
      fingerprint: `bitexit_${m.model.info.backend}`,
    });
  }

  const app = Fastify({
    logger: false,
    bodyLimit,
    forceCloseConnections: true,
    return503OnClosing: true,
    // No coercion, no silent removal of unknown fields, no defaults injected: the body is validated as sent.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    // Node's own limits are the backstop for clients that never finish their headers or body.
    serverFactory: (handler) =>
      createHttpServer({ headersTimeout: timeoutMs, requestTimeout: timeoutMs * 2, connectionsCheckingInterval: Math.min(1000, timeoutMs) }, handler),
  });
  const running = new Set<AbortController>();

  app.removeContentTypeParser(['text/plain']);
  if (options.cors) await app.register(cors, { origin: options.cors, methods: ['GET', 'POST'], allowedHeaders: ['authorization', 'content-type'] });

  // Unknown paths and wrong methods are answered before authentication and before any body is read.
  app.addHook('onRequest', async (request, reply) => {
    if (!request.is404) return;
    const path = request.url.split('?')[0]!;
    const allowed = ROUTES[path] ?? (path.startsWith('/v1/models/') ? 'GET, HEAD' : undefined);
    reply.header('connection', 'close');
    if (allowed) {
      reply.header('allow', allowed);
      throw new ApiError(405, `Method ${request.method} is not allowed on ${path} (allowed: ${allowed})`, { code: 'method_not_allowed' });
    }
    throw new ApiError(404, `Invalid URL (${request.method} ${path})`, { code: 'unknown_url' });
  });

  if (options.apiKey !== undefined) {
    const expected = digest(options.apiKey);
    app.addHook('onRequest', async (request) => {
      if (request.method === 'OPTIONS' || request.url.split('?')[0] === '/health') return;
      const header = request.headers.authorization;
      if (!header) {
        throw new ApiError(401, "You didn't provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY).", {
          type: 'invalid_request_error',
        });
      }
      const key = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? '';
      if (!timingSafeEqual(digest(key), expected)) {
        throw new ApiError(401, 'Incorrect API key provided.', { type: 'invalid_request_error', code: 'invalid_api_key' });
      }
    });
  }

  // A body must arrive in time: a client that trickles it (slowloris) gets a 408 and is disconnected.
  app.addHook('preParsing', async (_request, reply, payload) => {
    const guarded = new PassThrough();
    // Fastify listens for errors only while it reads the body; a late timeout must not become an uncaught exception.
    guarded.on('error', () => undefined);
    const timer = setTimeout(() => guarded.destroy(new ApiError(408, `the request body did not arrive within ${timeoutMs} ms`, { code: 'request_timeout' })), timeoutMs);
    const stop = () => clearTimeout(timer);
    payload.on('error', (e) => {
      stop();
      guarded.destroy(e);
    });
    payload.on('end', stop);
    guarded.on('close', stop);
    reply.raw.on('close', stop);
    payload.pipe(guarded);
    return guarded;
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const api = toApiError(error, bodyLimit);
    if (api.statusCode >= 500) log(`error: ${error.stack ?? error.message}`);
    if (api.statusCode === 408 || api.statusCode === 413) reply.header('connection', 'close');
    // Clients (the openai package among them) wait this long before retrying a 429.
    if (api.statusCode === 429) reply.header('retry-after', '1');
    return reply.code(api.statusCode).send(api.toBody());
  });

  // Reached only when the onRequest hook above did not answer (it always does): kept so no request goes unanswered.
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(new ApiError(404, `Invalid URL (${request.method} ${request.url.split('?')[0]})`, { code: 'unknown_url' }).toBody());
  });

  app.get('/health', async () => ({
    status: 'ok',
    models: [...served.values()].map((s) => ({
      id: s.id,
      backend: s.model.info.backend,
      context_length: s.model.info.contextLength,
      running: s.queue.running,
      queued: s.queue.queued,
      max_queue: s.queue.maxQueue,
    })),
  }));

  const created = Math.floor(Date.now() / 1000);
  const modelObject = (s: Served) => ({ id: s.id, object: 'model', created, owned_by: 'bitexit' });
  app.get('/v1/models', async () => ({ object: 'list', data: [...served.values()].map(modelObject) }));
  app.get<{ Params: { id: string } }>('/v1/models/:id', async (request) => modelObject(findModel(served, request.params.id, null)));

  app.post<{ Body: ChatCompletionBody }>('/v1/chat/completions', { schema: { body: chatCompletionSchema } }, async (request, reply) => {
    const body = request.body;
    checkCommon(body);
    const s = findModel(served, body.model, 'model');
    const promptIds = chatPrompt(s, body);
    const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? null;
    const param = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
    return execute(prepare('chat', s, body, promptIds, maxTokens, param, 'messages'), request, reply);
  });

  app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionSchema } }, async (request, reply) => {
    const body = request.body;
    checkCommon(body);
    const s = findModel(served, body.model, 'model');
    const promptIds = textPrompt(s, body.prompt);
    const room = s.model.info.contextLength - promptIds.length;
    const maxTokens = body.max_tokens ?? Math.max(1, Math.min(DEFAULT_COMPLETION_TOKENS, room));
    return execute(prepare('text', s, body, promptIds, maxTokens, 'max_tokens', 'prompt'), request, reply);
  });

  /** Waits its turn in the model's queue, generates, and answers (JSON or server-sent events). */
  async function execute(p: Prepared, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const controller = new AbortController();
    const raw = reply.raw;
    // The response closing before it was finished means the client went away: cancel its generation.
    const onClose = () => {
      if (!raw.writableFinished) controller.abort();
    };
    raw.on('close', onClose);
    running.add(controller);
    let release: (() => void) | null = null;
    try {
      try {
        release = await p.served.queue.acquire(controller.signal);
      } catch (e) {
        if (e instanceof RequestCancelledError) {
          log(`${request.method} ${request.url} model=${p.served.id} cancelled while queued`);
          return abandon(reply);
        }
        throw e;
      }
      const generation = p.served.model.generate(p.promptIds, { ...p.options, signal: controller.signal });
      const sent = p.stream ? await stream(p, generation, reply, controller) : await respond(p, generation, reply, controller.signal);
      // A generation that failed mid-stream was already reported in the stream (and logged).
      const result = await generation.result.catch(() => null);
      if (result) {
        const { stats } = result;
        log(
          `${request.method} ${request.url} model=${p.served.id} stream=${p.stream} prompt_tokens=${stats.promptTokens} ` +
            `completion_tokens=${stats.generatedTokens} finish=${controller.signal.aborted ? 'abort' : stats.finishReason} ms=${stats.totalMs.toFixed(0)}`,
        );
      }
      return sent;
    } finally {
      release?.();
      running.delete(controller);
      raw.off('close', onClose);
    }
  }

  async function respond(p: Prepared, generation: Generation, reply: FastifyReply, signal: AbortSignal): Promise<unknown> {
    const result = await generation.result;
    if (signal.aborted) return abandon(reply);
    const who = newIdentity(p.endpoint, p.served.id, p.served.fingerprint);
    return reply.send(p.endpoint === 'chat' ? chatCompletion(who, result) : textCompletion(who, result));
  }

  async function stream(p: Prepared, generation: Generation, reply: FastifyReply, controller: AbortController): Promise<unknown> {
    const chunks = generation[Symbol.asyncIterator]();
    // The first step runs the prefill: a failure there is still answered with a status code.
    let step: IteratorResult<GenerationChunk>;
    try {
      step = await chunks.next();
    } catch (e) {
      await chunks.return?.();
      throw e;
    }
    if (controller.signal.aborted) {
      await chunks.return?.();
      return abandon(reply);
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const sse = new EventWriter(raw, timeoutMs);
    const build = new ChunkBuilder(p.endpoint, newIdentity(p.endpoint, p.served.id, p.served.fingerprint), p.includeUsage);
    try {
      if (p.endpoint === 'chat') await sse.send(build.role());
      while (!step.done) {
        if (step.value.text && !(await sse.send(build.text(step.value.text)))) {
          controller.abort(); // the client stopped reading: free the model
          break;
        }
        step = await chunks.next();
      }
    } catch (e) {
      log(`error: ${(e as Error).stack ?? String(e)}`);
      await sse.send(toApiError(e as FastifyError, bodyLimit).toBody());
      raw.end();
      return;
    } finally {
      await chunks.return?.();
    }
    const result = await generation.result;
    if (controller.signal.aborted) {
      raw.destroy();
      return;
    }
    await sse.send(build.finish(finishReason(result.stats.finishReason)));
    if (p.includeUsage) await sse.send(build.usage(usageOf(result)));
    await sse.sendRaw('data: [DONE]\n\n');
    raw.end();
  }

  return {
    app,
    modelIds: [...served.keys()],
    async listen({ host = '127.0.0.1', port = 8080 } = {}) {
      await app.listen({ host, port });
      const address = app.server.address();
      const actualPort = typeof address === 'object' && address ? address.port : port;
      return `http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`;
    },
    async close() {
      for (const c of running) c.abort();
      await app.close();
    },
  };

  /** Turns the validated body into engine input, checking everything the engine would refuse mid-stream. */
  function prepare(endpoint: Endpoint, s: Served, body: ChatCompletionBody | CompletionBody, promptIds: number[], maxTokens: number | null, maxParam: string, promptParam: string): Prepared {
    const ctx = s.model.info.contextLength;
    if (promptIds.length >= ctx) {
      throw new ApiError(400, `This model's maximum context length is ${ctx} tokens. However, your ${promptParam} resulted in ${promptIds.length} tokens. Please reduce the length of the ${promptParam}.`, {
        param: promptParam,
        code: 'context_length_exceeded',
      });
    }
    const completion = maxTokens ?? ctx - promptIds.length;
    if (promptIds.length + completion > ctx) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${ctx} tokens. However, you requested ${promptIds.length + completion} tokens (${promptIds.length} in the ${promptParam}, ${completion} in the completion). Please reduce the length of the ${promptParam} or completion.`,
        { param: maxParam, code: 'context_length_exceeded' },
      );
    }
    const stop = body.stop == null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    const topP = body.top_p ?? undefined;
    const options: GenerateOptions = {
      maxTokens: completion,
      // top_p 0 keeps only the most likely token: greedy.
      ...(body.temperature != null ? { temperature: body.temperature } : {}),
      ...(topP === 0 ? { temperature: 0 } : topP !== undefined ? { topP } : {}),
      ...(body.seed != null ? { seed: body.seed } : {}),
      ...(stop.length ? { stop } : {}),
    };
    return { endpoint, served: s, promptIds, options, stream: body.stream === true, includeUsage: body.stream_options?.include_usage === true };
  }
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** The client went away while its request waited or ran: nothing to answer. */
function abandon(reply: FastifyReply): undefined {
  reply.hijack();
  if (!reply.raw.destroyed) reply.raw.destroy();
  return undefined;
}

function findModel(served: Map<string, Served>, id: string, param: string | null): Served {
  const s = served.get(id);
  if (!s) {
    throw new ApiError(404, `The model '${id}' does not exist (served: ${[...served.keys()].join(', ')})`, { param, code: 'model_not_found' });
  }
  return s;
}

/** Fields OpenAI defines that this server does not implement are refused unless neutral; stream_options needs stream. */
function checkCommon(body: ChatCompletionBody | CompletionBody): void {
  for (const [field, isNeutral] of Object.entries(NEUTRAL_VALUES)) {
    const value = body[field];
    if (value === undefined || value === null || isNeutral(value)) continue;
    throw invalidRequest(`'${field}' is not supported by bitexit serve (only its default value is accepted)`, field, 'unsupported_parameter');
  }
  if (body.stream_options != null && body.stream !== true) {
    throw invalidRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
}

function chatPrompt(s: Served, body: ChatCompletionBody): number[] {
  if (s.chatTemplate === null) {
    throw new ApiError(
      400,
      `model '${s.id}' has no chat template, so chat messages cannot be formatted for it: start the server with --chat-template FILE|NAME ` +
        `(built-in: ${Object.keys(BUILTIN_CHAT_TEMPLATES).join(', ')}), or send the text to /v1/completions`,
      { param: 'messages', code: 'no_chat_template' },
    );
  }
  const tok = s.model.tokenizer;
  const special = tok.specialTokens;
  const messages = body.messages.map((m) => ({
    role: m.role === 'developer' ? 'system' : m.role,
    content: typeof m.content === 'string' ? m.content : m.content.map((part) => part.text).join(''),
  }));
  let text: string;
  try {
    text = renderChatTemplate(s.chatTemplate, messages, { bos_token: special.bos_token ?? '', eos_token: special.eos_token ?? '', add_generation_prompt: true });
  } catch (e) {
    if (e instanceof ChatTemplateError) throw invalidRequest(e.message, 'messages', 'invalid_messages');
    throw e;
  }
  const bos = special.bos_token;
  return tok.encode(text, { addBos: !(bos && text.startsWith(bos)), parseSpecial: true });
}

function textPrompt(s: Served, prompt: CompletionBody['prompt']): number[] {
  if (typeof prompt === 'string' || typeof prompt[0] === 'string') {
    const text = typeof prompt === 'string' ? prompt : (prompt[0] as string);
    const tok = s.model.tokenizer;
    const ids = tok.encode(text, { addBos: tok.bosId !== null });
    return ids.length ? ids : tok.bosId !== null ? [tok.bosId] : ids;
  }
  const ids = prompt as number[];
  const vocab = s.model.config.vocabSize;
  const bad = ids.findIndex((id) => id >= vocab);
  if (bad >= 0) throw invalidRequest(`prompt token ${ids[bad]} at index ${bad} is outside the vocabulary (0..${vocab - 1})`, 'prompt');
  return ids;
}

/** Every failure, whatever raised it, as OpenAI's error shape with the right status. */
function toApiError(error: FastifyError | Error, bodyLimit: number): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as FastifyError;
  if (e.validation) return validationError(e);
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ApiError(413, `the request body is larger than the limit of ${bodyLimit} bytes`, { code: 'request_too_large' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ApiError(415, `unsupported Content-Type: send the body as application/json`, { code: 'unsupported_media_type' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return invalidRequest('the request body is empty: send a JSON object', null, 'invalid_json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return invalidRequest('the request body length does not match its Content-Length header');
  }
  if (e instanceof SyntaxError || (e.statusCode === 400 && /JSON|prototype/i.test(e.message))) {
    return invalidRequest(`We could not parse the JSON body of your request: ${e.message}`, null, 'invalid_json');
  }
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new ApiError(e.statusCode, e.message);
  // The engine's typed refusals of a request (an option out of range, a template that raises) are the client's to fix.
  if (isBitexitError(e) && ['E_INVALID_OPTION', 'E_CONTEXT_LENGTH', 'E_CHAT_TEMPLATE'].includes((e as BitexitError).code)) return invalidRequest(e.message);
  return new ApiError(500, 'The server had an error while processing your request.', { code: 'internal_error' });
}

interface AjvError {
  keyword: string;
  instancePath: string;
  message?: string;
  params: Record<string, unknown>;
}

/** ajv's first complaint, phrased as OpenAI does, with `param` naming the field (messages[0].content). */
function validationError(e: FastifyError): ApiError {
  const errors = (e.validation ?? []) as unknown as AjvError[];
  const first = errors[0];
  if (!first) return invalidRequest(e.message);
  const path = first.instancePath
    .split('/')
    .slice(1)
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
  const join = (name: string) => (path ? `${path}.${name}` : name);
  if (first.keyword === 'additionalProperties') {
    const name = join(String(first.params.additionalProperty));
    return invalidRequest(`Unrecognized request argument supplied: ${name}`, name, 'unknown_parameter');
  }
  if (first.keyword === 'required') {
    const name = join(String(first.params.missingProperty));
    return invalidRequest(`Missing required parameter: '${name}'.`, name, 'missing_required_parameter');
  }
  if (!path) return invalidRequest('the request body must be a JSON object', null, 'invalid_type');
  const reasons = [...new Set(errors.filter((x) => x.instancePath === first.instancePath && x.keyword !== 'anyOf').map((x) => x.message ?? x.keyword))];
  return invalidRequest(`Invalid value for '${path}': ${reasons.join(' or ')}.`, path, 'invalid_value');
}

/**
 * Writes server-sent events with backpressure: a slow reader is waited for,
 * but one that stops reading for `stallMs` is dropped, so it cannot hold the model.
 */
class EventWriter {
  constructor(
    private readonly raw: ServerResponse,
    private readonly stallMs: number,
  ) {}

  send(event: unknown): Promise<boolean> {
    return this.sendRaw(`data: ${JSON.stringify(event)}\n\n`);
  }

  sendRaw(text: string): Promise<boolean> {
    const raw = this.raw;
    if (raw.destroyed || raw.writableEnded) return Promise.resolve(false);
    if (raw.write(text)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer);
        raw.off('drain', onDrain);
        raw.off('close', onClose);
        if (!ok) raw.destroy();
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), this.stallMs);
      raw.on('drain', onDrain);
      raw.on('close', onClose);
    });
  }
}
