import { BitexitError } from '@bitexit/format';
import { createServer, loadChatTemplate } from '@bitexit/server';
import { EXIT_OK, UsageError } from '../errors.js';
import { checkEarlyExitFlags, enableEarlyExitFromFlags, type EarlyExitFlags } from '../generation-flags.js';
import type { CliIO } from '../io.js';
import { loadFromFlags, type ModelFlags } from '../model.js';

export interface ServeOptions extends ModelFlags, EarlyExitFlags {
  host: string;
  port: number;
  apiKey?: string;
  maxQueue: number;
  cors?: string;
  chatTemplate?: string;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** `bitexit serve`: an OpenAI-compatible HTTP server (@bitexit/server) until SIGINT. */
export async function serveCommand(opts: ServeOptions, io: CliIO): Promise<number> {
  checkEarlyExitFlags(opts);
  if (opts.port > 65535) throw new UsageError(`--port must be between 0 and 65535, got ${opts.port}`);
  const apiKey = opts.apiKey ?? io.env?.BITEXIT_API_KEY;
  // A broken template fails here, before the model loads.
  const chatTemplate = opts.chatTemplate ? await loadChatTemplate(opts.chatTemplate) : undefined;
  const { model } = await loadFromFlags(opts, io.stderr);
  let exitHandle: { dispose(): Promise<void> } | null = null;
  try {
    exitHandle = await enableEarlyExitFromFlags(model, opts);
    const server = await createServer({
      models: [{ model, ...(chatTemplate ? { chatTemplate } : {}) }],
      maxQueue: opts.maxQueue,
      ...(apiKey ? { apiKey } : {}),
      ...(opts.cors ? { cors: opts.cors } : {}),
      log: (line) => void io.stderr.write(`bitexit serve: ${line}\n`),
    });
    let url: string;
    try {
      url = await server.listen({ host: opts.host, port: opts.port });
    } catch (e) {
      await server.close();
      throw new BitexitError('E_LISTEN', `cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`, { cause: e });
    }
    const id = server.modelIds[0];
    const chat = chatTemplate ? 'chat template from --chat-template' : model.tokenizer.chatTemplate ? "the model's chat template" : 'no chat template (chat completions refused; pass --chat-template)';
    io.stderr.write(
      `bitexit: serving '${id}' (${model.info.backend}, context ${model.info.contextLength}${model.earlyExit ? ', early exit' : ''}, ${chat}) at ${url}/v1\n`,
    );
    if (!apiKey && !LOOPBACK.has(opts.host)) io.stderr.write(`bitexit: warning: listening on ${opts.host} without --api-key: anyone who can reach it can use it\n`);
    await new Promise<void>((resolve) => {
      if (!io.signal) return; // runs until the process is killed
      if (io.signal.aborted) resolve();
      io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await server.close();
    io.stderr.write('bitexit: server stopped\n');
    return EXIT_OK;
  } finally {
    await exitHandle?.dispose();
    await model.dispose();
  }
}
