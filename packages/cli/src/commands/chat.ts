import { randomInt } from 'node:crypto';
import { createInterface, type Interface } from 'node:readline';
import { Writable } from 'node:stream';
import { isBitexitError } from '@bitexit/format';
import { ChatSession, chatPromptIds, type GenerateOptions, type Model } from '@bitexit/engine';
import { loadChatTemplate } from '@bitexit/server';
import { EXIT_INTERRUPTED, EXIT_OK, UsageError, oneLine } from '../errors.js';
import { checkEarlyExitFlags, enableEarlyExitFromFlags, samplingOptions, type EarlyExitFlags, type SamplingFlags } from '../generation-flags.js';
import { readInputText, type CliIO, type InputStream, type OutputStream } from '../io.js';
import { loadFromFlags, type ModelFlags } from '../model.js';

export interface ChatCliOptions extends ModelFlags, SamplingFlags, EarlyExitFlags {
  system?: string;
  chatTemplate?: string;
  maxTokens: number;
  seed?: number;
}

export const REPL_HELP = 'commands: /reset (forget the conversation), /exit (or Ctrl-D); Ctrl-C stops an answer, twice exits';

/**
 * `bitexit chat`: a conversation with the model through a ChatSession. With a terminal on
 * stdin it is a REPL; otherwise stdin is read whole as one user message, the answer is
 * printed and the command exits.
 */
export async function chatCommand(opts: ChatCliOptions, io: CliIO): Promise<number> {
  checkEarlyExitFlags(opts);
  const stdin: InputStream = io.stdin ?? process.stdin;
  const interactive = stdin.isTTY === true;
  // One-shot: read the message before loading the model, so an empty stdin fails fast.
  const message = interactive ? null : await readInputText(stdin);
  if (message !== null && message.trim() === '') throw new UsageError('no message on stdin: pipe the user message in (echo "Hi" | bitexit chat), or run it in a terminal');
  const template = opts.chatTemplate ? await loadChatTemplate(opts.chatTemplate) : undefined;

  const seed = opts.seed ?? randomInt(0, 0x1_0000_0000);
  const genOptions: GenerateOptions = samplingOptions(opts, seed);

  const { model } = await loadFromFlags(opts, io.stderr);
  let exitHandle: { dispose(): Promise<void> } | null = null;
  try {
    const session = createSession(model, template, opts.system);
    exitHandle = await enableEarlyExitFromFlags(model, opts);
    if (message !== null) return await oneShot(session, message, genOptions, io);
    return await repl(session, genOptions, stdin, io);
  } finally {
    await exitHandle?.dispose();
    await model.dispose();
  }
}

function createSession(model: Model, template: string | undefined, system: string | undefined): ChatSession {
  const chosen = template ?? model.tokenizer.chatTemplate;
  if (!chosen) {
    throw new UsageError(`${model.info.path}: the model has no chat template: pass one with --chat-template FILE|NAME (a Jinja chat template file, or a built-in: chatml, llama2, plain)`);
  }
  // A template that cannot render one user message is unusable: say so before the first turn.
  chatPromptIds(model.tokenizer, chosen, [...(system !== undefined ? [{ role: 'system' as const, content: system }] : []), { role: 'user', content: 'Hi' }]);
  return new ChatSession(model, { chatTemplate: chosen, ...(system !== undefined ? { systemPrompt: system } : {}) });
}

async function oneShot(session: ChatSession, message: string, genOptions: GenerateOptions, io: CliIO): Promise<number> {
  const generation = session.prompt(message, { ...genOptions, ...(io.signal ? { signal: io.signal } : {}) });
  let last = '';
  for await (const chunk of generation) {
    if (chunk.text) {
      io.stdout.write(chunk.text);
      last = chunk.text;
    }
  }
  const result = await generation.result;
  if (!last.endsWith('\n')) io.stdout.write('\n');
  return result.stats.finishReason === 'abort' ? EXIT_INTERRUPTED : EXIT_OK;
}

/** readline wants a Writable; the CLI writes through `OutputStream`. */
function writableOf(out: OutputStream): Writable & { columns?: number } {
  const w = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      out.write(String(chunk));
      callback();
    },
  }) as Writable & { columns?: number; isTTY?: boolean };
  w.columns = out.columns ?? 80;
  w.isTTY = out.isTTY;
  return w;
}

/**
 * The interactive loop. Lines typed while an answer streams wait their turn. Ctrl-C stops the
 * answer; a second Ctrl-C (before another message is sent) exits, as does Ctrl-D or /exit.
 */
async function repl(session: ChatSession, genOptions: GenerateOptions, stdin: InputStream, io: CliIO): Promise<number> {
  if (io.signal?.aborted) return EXIT_INTERRUPTED; // Ctrl-C while the model was loading
  const rl: Interface = createInterface({ input: stdin, output: writableOf(io.stdout), terminal: true, historySize: 200 });
  rl.setPrompt('> ');
  const lines: string[] = [];
  let closed = false;
  let wake: (() => void) | null = null;
  let answering: AbortController | null = null;
  let interruptArmed = false;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const quit = () => {
    closed = true;
    answering?.abort();
    notify();
  };
  rl.on('line', (line) => {
    lines.push(line);
    notify();
  });
  rl.on('close', quit);
  rl.on('SIGINT', () => {
    if (answering) {
      answering.abort();
      interruptArmed = true;
      return;
    }
    if (interruptArmed) {
      io.stdout.write('\n');
      rl.close();
      return;
    }
    interruptArmed = true;
    io.stdout.write('\n(press Ctrl-C again or Ctrl-D to exit)\n');
    if (rl.line) {
      // Clear a half-typed line: cursor to its end, then delete back to its start.
      rl.write(null, { ctrl: true, name: 'e' });
      rl.write(null, { ctrl: true, name: 'u' });
    }
    rl.prompt();
  });
  io.signal?.addEventListener('abort', () => rl.close(), { once: true });

  io.stderr.write(`chat with ${session.model.info.path} (${session.model.info.backend}); ${REPL_HELP}\n`);
  rl.prompt();
  try {
    for (;;) {
      while (lines.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
      if (closed && lines.length === 0) break;
      const text = lines.shift()!.trim();
      if (closed) break;
      if (text === '') {
        rl.prompt();
        continue;
      }
      if (text.startsWith('/')) {
        if (text === '/exit' || text === '/quit') break;
        if (text === '/reset') {
          session.reset();
          io.stdout.write('(conversation cleared)\n');
        } else {
          io.stdout.write(`unknown command ${text}; ${REPL_HELP}\n`);
        }
        rl.prompt();
        continue;
      }
      interruptArmed = false;
      answering = new AbortController();
      await answer(session, text, { ...genOptions, signal: answering.signal }, io);
      answering = null;
      if (closed) break;
      rl.prompt();
    }
  } finally {
    rl.close();
  }
  return EXIT_OK;
}

/** Streams one answer; a failed turn (too long a message...) is reported and the REPL goes on. */
async function answer(session: ChatSession, text: string, options: GenerateOptions, io: CliIO): Promise<void> {
  const droppedBefore = session.droppedMessages;
  try {
    const generation = session.prompt(text, options);
    for await (const chunk of generation) io.stdout.write(chunk.text);
    const result = await generation.result;
    const reason = result.stats.finishReason;
    io.stdout.write(reason === 'abort' ? ' [stopped]\n' : reason === 'context' ? ' [context full]\n' : '\n');
    const dropped = session.droppedMessages - droppedBefore;
    if (dropped > 0) io.stderr.write(`(context full: the ${session.droppedMessages} oldest messages are now left out)\n`);
  } catch (e) {
    if (!isBitexitError(e)) throw e;
    io.stderr.write(`bitexit: ${oneLine((e as Error).message)}\n`);
  }
}
