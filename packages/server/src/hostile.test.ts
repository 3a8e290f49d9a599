import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '@bitexit/engine';
import type { BitexitServer } from './server.js';
import { MODEL_ID, loadDemoModel, startServer } from './test-support.js';

/**
 * Hostile and malformed requests (issue #18's discipline for the server): each
 * is answered with the right status and OpenAI's error shape, in bounded
 * time, and the server still serves a good request afterwards.
 */

const KEY = 'hostile-key';
const BODY_LIMIT = 256 * 1024;
const TIMEOUT_MS = 400;

interface Reply {
  status: number;
  body: string;
  closedMs: number;
}

/** Sends raw bytes over TCP and reads until the server closes the connection (or `waitMs` passes). */
function rawRequest(port: number, parts: (string | Buffer)[], options: { pauseMs?: number; waitMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${options.waitMs ?? 5000} ms`));
    }, options.waitMs ?? 5000);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(limit);
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const head = text.indexOf('\r\n\r\n');
      let body = head >= 0 ? text.slice(head + 4) : '';
      if (/transfer-encoding: chunked/i.test(text.slice(0, head))) body = body.replace(/^[0-9a-f]+\r\n|\r\n[0-9a-f]+\r\n/gi, '').replace(/\r\n0\r\n\r\n$/, '');
      resolve({ status, body, closedMs: Date.now() - t0 });
    });
    socket.on('connect', async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
        if (!socket.destroyed) socket.write(part);
      }
    });
  });
}

function expectErrorShape(body: string, status: number): { message: string; type: string; param: string | null; code: string | null } {
  let parsed: unknown;
  expect(() => (parsed = JSON.parse(body)), `status ${status}, body ${body.slice(0, 200)}`).not.toThrow();
  const error = (parsed as { error: Record<string, unknown> }).error;
  expect(Object.keys(parsed as object)).toEqual(['error']);
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof error.message).toBe('string');
  expect((error.message as string).length).toBeGreaterThan(0);
  expect(typeof error.type).toBe('string');
  expect(error.param === null || typeof error.param === 'string').toBe(true);
  expect(error.code === null || typeof error.code === 'string').toBe(true);
  return error as { message: string; type: string; param: string | null; code: string | null };
}

interface Case {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  /** A value is sent as JSON; a string or Buffer as is. */
  body?: unknown;
  raw?: boolean;
  status: number;
  param?: string | null;
  code?: string | null;
}

const chat = (extra: Record<string, unknown>) => ({ model: MODEL_ID, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, ...extra });
const text = (extra: Record<string, unknown>) => ({ model: MODEL_ID, prompt: 'Hi', max_tokens: 2, ...extra });
const raw = (s: string | Buffer) => ({ raw: true, body: s });
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const CHAT_CASES: Case[] = [
  { name: 'truncated JSON', ...raw('{"model": "bitexit-demo", "messages": ['), status: 400, code: 'invalid_json' },
  { name: 'trailing comma', ...raw('{"model": "bitexit-demo",}'), status: 400, code: 'invalid_json' },
  { name: 'single quotes', ...raw("{'model': 'x'}"), status: 400, code: 'invalid_json' },
  { name: 'NaN literal', ...raw('{"model": "bitexit-demo", "messages": [], "temperature": NaN}'), status: 400, code: 'invalid_json' },
  { name: 'empty body', ...raw(''), status: 400 },
  { name: 'null body', ...raw('null'), status: 400 },
  { name: 'array body', body: [], status: 400 },
  { name: 'string body', body: 'hello', status: 400 },
  { name: 'number body', body: 42, status: 400 },
  { name: 'missing model', body: { messages: [{ role: 'user', content: 'Hi' }] }, status: 400, param: 'model', code: 'missing_required_parameter' },
  { name: 'missing messages', body: { model: MODEL_ID }, status: 400, param: 'messages' },
  { name: 'messages is a string', body: chat({ messages: 'Hi' }), status: 400, param: 'messages' },
  { name: 'messages empty', body: chat({ messages: [] }), status: 400, param: 'messages' },
  { name: 'message without role', body: chat({ messages: [{ content: 'Hi' }] }), status: 400, param: 'messages[0].role' },
  { name: 'tool role', body: chat({ messages: [{ role: 'tool', content: 'x' }] }), status: 400, param: 'messages[0].role' },
  { name: 'role is a number', body: chat({ messages: [{ role: 1, content: 'x' }] }), status: 400, param: 'messages[0].role' },
  { name: 'content is a number', body: chat({ messages: [{ role: 'user', content: 5 }] }), status: 400, param: 'messages[0].content' },
  { name: 'content is an object', body: chat({ messages: [{ role: 'user', content: { text: 'x' } }] }), status: 400, param: 'messages[0].content' },
  { name: 'image content part', body: chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), status: 400 },
  { name: 'unknown message field', body: chat({ messages: [{ role: 'user', content: 'x', tool_calls: [] }] }), status: 400, param: 'messages[0].tool_calls', code: 'unknown_parameter' },
  { name: 'model is a number', body: chat({ model: 7 }), status: 400, param: 'model' },
  { name: 'model is empty', body: chat({ model: '' }), status: 400, param: 'model' },
  { name: 'unknown model', body: chat({ model: 'gpt-4' }), status: 404, param: 'model', code: 'model_not_found' },
  { name: 'temperature is a string', body: chat({ temperature: 'hot' }), status: 400, param: 'temperature' },
  { name: 'temperature negative', body: chat({ temperature: -1 }), status: 400, param: 'temperature' },
  { name: 'temperature 1e400 (Infinity)', ...raw(JSON.stringify(chat({})).replace('{', '{"temperature":1e400,')), status: 400, param: 'temperature' },
  { name: 'top_p above 1', body: chat({ top_p: 1.5 }), status: 400, param: 'top_p' },
  { name: 'top_p negative', body: chat({ top_p: -0.1 }), status: 400, param: 'top_p' },
  { name: 'max_tokens 0', body: chat({ max_tokens: 0 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens negative', body: chat({ max_tokens: -5 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens fractional', body: chat({ max_tokens: 1.5 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens huge', body: chat({ max_tokens: 1e12 }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens a string', body: chat({ max_tokens: '10' }), status: 400, param: 'max_tokens' },
  { name: 'max_tokens beyond the context', body: chat({ max_tokens: 100_000 }), status: 400, param: 'max_tokens', code: 'context_length_exceeded' },
  { name: 'max_completion_tokens beyond the context', body: chat({ max_tokens: undefined, max_completion_tokens: 300 }), status: 400, param: 'max_completion_tokens', code: 'context_length_exceeded' },
  { name: 'seed negative', body: chat({ seed: -1 }), status: 400, param: 'seed' },
  { name: 'seed fractional', body: chat({ seed: 1.5 }), status: 400, param: 'seed' },
  { name: 'seed beyond 2^53', body: chat({ seed: 1e20 }), status: 400, param: 'seed' },
  { name: 'stop is a number', body: chat({ stop: 3 }), status: 400, param: 'stop' },
  { name: 'five stop strings', body: chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), status: 400, param: 'stop' },
  { name: 'stop array with a number', body: chat({ stop: ['a', 1] }), status: 400 },
  { name: 'stop empty string', body: chat({ stop: '' }), status: 400, param: 'stop' },
  { name: 'stream is a string', body: chat({ stream: 'yes' }), status: 400, param: 'stream' },
  { name: 'stream_options without stream', body: chat({ stream_options: { include_usage: true } }), status: 400, param: 'stream_options' },
  { name: 'stream_options unknown field', body: chat({ stream: true, stream_options: { foo: 1 } }), status: 400, param: 'stream_options.foo' },
  { name: 'n = 2', body: chat({ n: 2 }), status: 400, param: 'n', code: 'unsupported_parameter' },
  { name: 'tools', body: chat({ tools: [{ type: 'function', function: { name: 'f' } }] }), status: 400, param: 'tools' },
  { name: 'logprobs true', body: chat({ logprobs: true }), status: 400, param: 'logprobs' },
  { name: 'json response format', body: chat({ response_format: { type: 'json_object' } }), status: 400, param: 'response_format' },
  { name: 'presence penalty', body: chat({ presence_penalty: 1 }), status: 400, param: 'presence_penalty' },
  { name: 'unknown top-level field', body: chat({ foo: 'bar' }), status: 400, param: 'foo', code: 'unknown_parameter' },
  { name: '__proto__ key', ...raw(JSON.stringify(chat({})).replace('{', '{"__proto__":{"polluted":true},')), status: 400 },
  { name: 'constructor.prototype key', ...raw(JSON.stringify(chat({})).replace('{', '{"constructor":{"prototype":{"polluted":true}},')), status: 400 },
  { name: 'array nested 20,000 deep in an unknown field', ...raw(JSON.stringify(chat({})).replace('{', `{"x":${nested(20_000)},`)), status: 400 },
  { name: 'array nested 20,000 deep in tools', ...raw(JSON.stringify(chat({})).replace('{', `{"tools":${nested(20_000)},`)), status: 400, param: 'tools' },
  { name: 'array nested 20,000 deep as content', ...raw(JSON.stringify(chat({})).replace('"Hi"', nested(20_000))), status: 400 },
  { name: '5,000 messages', body: chat({ messages: Array.from({ length: 5_000 }, () => ({ role: 'user', content: '' })) }), status: 400, param: 'messages' },
  { name: 'messages over the context', body: chat({ messages: [{ role: 'user', content: 'story '.repeat(2000) }] }), status: 400, param: 'messages', code: 'context_length_exceeded' },
  { name: 'body over the limit', body: chat({ messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT) }] }), status: 413, code: 'request_too_large' },
  { name: 'text/plain body', headers: { 'content-type': 'text/plain' }, body: JSON.stringify(chat({})), raw: true, status: 415 },
  { name: 'form body', headers: { 'content-type': 'application/x-www-form-urlencoded' }, raw: true, body: 'model=x', status: 415 },
  { name: 'multipart body', headers: { 'content-type': 'multipart/form-data; boundary=x' }, raw: true, body: '--x\r\n\r\n--x--', status: 415 },
  { name: 'gzip-encoded body', headers: { 'content-encoding': 'gzip' }, raw: true, body: gzipSync(JSON.stringify(chat({}))), status: 400 },
  { name: 'invalid UTF-8 around the JSON', raw: true, body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(JSON.stringify(chat({})))]), status: 400 },
];

const TEXT_CASES: Case[] = [
  { name: 'two prompts', body: text({ prompt: ['a', 'b'] }), status: 400, param: 'prompt' },
  { name: 'prompt is an object', body: text({ prompt: { text: 'a' } }), status: 400, param: 'prompt' },
  { name: 'prompt token outside the vocabulary', body: text({ prompt: [1, 2, 99_999] }), status: 400, param: 'prompt' },
  { name: 'negative prompt token', body: text({ prompt: [1, -2] }), status: 400, param: 'prompt' },
  { name: 'prompt over the context', body: text({ prompt: 'Once upon a time '.repeat(300) }), status: 400, param: 'prompt', code: 'context_length_exceeded' },
  { name: 'echo true', body: text({ echo: true }), status: 400, param: 'echo' },
  { name: 'best_of 3', body: text({ best_of: 3 }), status: 400, param: 'best_of' },
  { name: 'missing prompt', body: { model: MODEL_ID }, status: 400, param: 'prompt' },
];

const ROUTE_CASES: Case[] = [
  { name: 'no API key', path: '/v1/chat/completions', headers: { authorization: '' }, body: chat({}), status: 401 },
  { name: 'wrong API key', path: '/v1/chat/completions', headers: { authorization: 'Bearer nope' }, body: chat({}), status: 401, code: 'invalid_api_key' },
  { name: 'basic auth instead of bearer', path: '/v1/models', method: 'GET', headers: { authorization: `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}` }, status: 401 },
  { name: 'GET on chat completions', path: '/v1/chat/completions', method: 'GET', status: 405, code: 'method_not_allowed' },
  { name: 'PUT on completions', path: '/v1/completions', method: 'PUT', body: text({}), status: 405 },
  { name: 'DELETE on models', path: '/v1/models', method: 'DELETE', status: 405 },
  { name: 'unknown path', path: '/v1/embeddings', method: 'POST', body: {}, status: 404 },
  { name: 'path traversal', path: '/v1/../../etc/passwd', method: 'GET', status: 404 },
  { name: 'unknown model id', path: '/v1/models/nope', method: 'GET', status: 404, code: 'model_not_found' },
];

describe('hostile requests', () => {
  let model: Model;
  let server: BitexitServer;
  let url: string;
  let port: number;

  beforeAll(async () => {
    model = await loadDemoModel();
    ({ server, url } = await startServer(model, { apiKey: KEY, bodyLimit: BODY_LIMIT, requestTimeoutMs: TIMEOUT_MS }));
    port = Number(new URL(url).port);
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  const cases = [
    ...CHAT_CASES.map((c) => ({ path: '/v1/chat/completions', ...c })),
    ...TEXT_CASES.map((c) => ({ path: '/v1/completions', ...c })),
    ...ROUTE_CASES,
  ];

  it(`has at least 50 cases (${cases.length})`, () => expect(cases.length).toBeGreaterThanOrEqual(50));

  it.each(cases)('$name → $status', async (c) => {
    const headers: Record<string, string> = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json', ...c.headers };
    if (!headers.authorization) delete headers.authorization;
    const payload = c.body === undefined ? undefined : c.raw ? (typeof c.body === 'string' ? c.body : new Uint8Array(c.body as Buffer)) : JSON.stringify(c.body);
    const r = await fetch(url + c.path, { method: c.method ?? 'POST', headers, ...(payload !== undefined ? { body: payload } : {}) });
    const body = await r.text();
    expect(r.status, body).toBe(c.status);
    const error = expectErrorShape(body, r.status);
    if (c.param !== undefined) expect(error.param, error.message).toBe(c.param);
    if (c.code !== undefined) expect(error.code, error.message).toBe(c.code);
  });

  it('a Content-Length over the limit is refused before the body is read', async () => {
    const r = await rawRequest(port, [`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{"model"`]);
    expect(r.status).toBe(413);
    expectErrorShape(r.body, 413);
  });

  it('a body shorter than its Content-Length is answered 408 once the body timeout passes', async () => {
    const body = JSON.stringify(text({}));
    const r = await rawRequest(port, [`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length + 50}\r\n\r\n${body}`]);
    expect(r.status).toBe(408);
    expectErrorShape(r.body, 408);
    expect(r.closedMs).toBeLessThan(TIMEOUT_MS + 1500);
  });

  it('a chunked body over the limit is a 413', async () => {
    const chunk = 'x'.repeat(16 * 1024);
    const parts = [`POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`];
    for (let i = 0; i < 20; i++) parts.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const r = await rawRequest(port, parts, { pauseMs: 5 });
    expect(r.status).toBe(413);
    expectErrorShape(r.body, 413);
  });

  it('slowloris body: a body trickled byte by byte gets a 408 and the connection is closed in bounded time', async () => {
    const body = JSON.stringify(text({}));
    const head = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const r = await rawRequest(port, [head, ...body.split('')], { pauseMs: 100, waitMs: 5000 });
    expect(r.status).toBe(408);
    expect(expectErrorShape(r.body, 408).code).toBe('request_timeout');
    expect(r.closedMs).toBeLessThan(TIMEOUT_MS + 1500);
  });

  it('slowloris headers: a request whose headers never end is dropped in bounded time', async () => {
    const r = await rawRequest(port, ['POST /v1/completions HTTP/1.1\r\n', 'Host: x\r\n', 'X-A: 1\r\n', 'X-B: 2\r\n', 'X-C: 3\r\n', 'X-D: 4\r\n', 'X-E: 5\r\n'], {
      pauseMs: 300,
      waitMs: 6000,
    });
    expect([0, 408]).toContain(r.status); // Node answers a bare 408 or just closes
    expect(r.closedMs).toBeLessThan(TIMEOUT_MS + 2500);
  });

  it('garbage instead of HTTP is answered 400 and closed', async () => {
    const r = await rawRequest(port, ['\x00\x01\x02 not http at all\r\n\r\n']);
    expect(r.status).toBe(400);
  });

  it('still serves a good request afterwards, with nothing left running', async () => {
    const r = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(text({ prompt: 'Once upon a time', max_tokens: 8 })),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(8);
    const health = (await (await fetch(`${url}/health`)).json()) as { models: { running: number; queued: number }[] };
    expect(health.models[0]).toMatchObject({ running: 0, queued: 0 });
  });
});
