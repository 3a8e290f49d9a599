import { randomInt } from 'node:crypto';
import type { GenerateOptions, GenerationResult } from '@bitexit/engine';
import { BitexitError } from '@bitexit/format';
import { EXIT_INTERRUPTED, EXIT_OK, UsageError } from '../errors.js';
import { enableEarlyExitFromFlags, samplingOptions, type EarlyExitFlags, type SamplingFlags } from '../generation-flags.js';
import { readInputText, type CliIO, type InputStream } from '../io.js';
import { loadFromFlags, type ModelFlags } from '../model.js';

export interface RunOptions extends ModelFlags, SamplingFlags, EarlyExitFlags {
  prompt?: string;
  seed?: number;
  chat?: boolean;
  json?: boolean;
}

/** The `stats` object of `run --json` (snake_case like the rest of the JSON). */
export interface RunJsonStats {
  prompt_tokens: number;
  generated_tokens: number;
  finish_reason: string;
  backend: string;
  seed: number;
  load_ms: number;
  time_to_first_token_ms: number;
  prefill_tokens_per_second: number;
  decode_tokens_per_second: number;
  total_ms: number;
  /** With --early-exit: layers computed per decoded token, as a fraction of depth, and the exit-layer histogram. */
  early_exit?: { layers_per_token: number; layers_fraction: number; histogram: number[]; kv_policy: string; threshold: number; drafter: string };
}

/**
 * `run --json`. Arrays of token ids end in `_ids`; counts live in `stats`
 * (`stats.prompt_tokens`, `stats.generated_tokens`).
 */
export interface RunJson {
  text: string;
  prompt_token_ids: number[];
  token_ids: number[];
  stats: RunJsonStats;
}

const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : 0);

export function runJson(result: GenerationResult, loadMs: number, seed: number, exit?: { kvPolicy: string; threshold: number; drafter: string } | null): RunJson {
  const s = result.stats;
  const ee = s.earlyExit;
  return {
    text: result.text,
    prompt_token_ids: result.promptTokens,
    token_ids: result.tokens,
    stats: {
      prompt_tokens: s.promptTokens,
      generated_tokens: s.generatedTokens,
      finish_reason: s.finishReason,
      backend: s.backend,
      seed,
      load_ms: round(loadMs),
      time_to_first_token_ms: round(s.timeToFirstTokenMs),
      prefill_tokens_per_second: round(s.prefillTokensPerSecond, 1),
      decode_tokens_per_second: round(s.decodeTokensPerSecond, 1),
      total_ms: round(s.totalMs),
      ...(ee && exit
        ? {
            early_exit: {
              layers_per_token: round(ee.layersPerToken, 3),
              layers_fraction: round(ee.layersFraction, 4),
              histogram: ee.histogram,
              kv_policy: exit.kvPolicy,
              threshold: Number(exit.threshold.toPrecision(6)), // stored as f32 in the exits file
              drafter: exit.drafter,
            },
          }
        : {}),
    },
  };
}

/**
 * The prompt: --prompt TEXT; `--prompt -` reads standard input; no --prompt
 * reads standard input when it is piped (not a terminal), else the prompt is
 * empty (BOS only).
 */
export async function resolvePrompt(prompt: string | undefined, stdin: InputStream | undefined): Promise<string | undefined> {
  if (prompt === '-') {
    if (!stdin) throw new UsageError('--prompt - reads the prompt from standard input, but there is none');
    return readInputText(stdin);
  }
  if (prompt !== undefined) return prompt;
  if (stdin && stdin.isTTY !== true) return readInputText(stdin);
  return undefined;
}

/** `bitexit run`: streams prompt + continuation to stdout, stats to stderr (or one JSON object with --json). */
export async function runCommand(options: RunOptions, io: CliIO): Promise<number> {
  const resolved = await resolvePrompt(options.prompt, io.stdin);
  const opts: RunOptions = { ...options, ...(resolved !== undefined ? { prompt: resolved } : {}) };
  if (opts.chat && !opts.prompt) throw new UsageError('--chat needs --prompt TEXT (the user message), or the message piped on standard input');
  const seed = opts.seed ?? randomInt(0, 0x1_0000_0000);
  const genOptions: GenerateOptions = {
    ...samplingOptions(opts, seed),
    ...(io.signal ? { signal: io.signal } : {}),
  };

  const { model, loadMs } = await loadFromFlags(opts, io.stderr);
  let exitHandle: { dispose(): Promise<void> } | null = null;
  try {
    exitHandle = await enableEarlyExitFromFlags(model, opts);
    const prompt = opts.prompt ?? '';
    if (opts.chat && !model.tokenizer.chatTemplate) {
      throw new BitexitError(
        'E_NO_CHAT_TEMPLATE',
        `${model.info.path}: --chat needs a model whose GGUF carries a chat template (tokenizer.chat_template, as instruct models on Hugging Face do); ` +
          'this one has none, so run it without --chat to continue the prompt as plain text',
      );
    }
    const generation = opts.chat
      ? model.chat([{ role: 'user', content: prompt }], genOptions)
      : model.generate(prompt, genOptions);

    if (opts.json) {
      // Drain the stream (nothing may reach stdout but the one JSON object).
      // The engine gives the event loop a turn while it generates, so Ctrl-C is handled mid-run.
      for await (const _chunk of generation);
      const result = await generation.result;
      io.stdout.write(JSON.stringify(runJson(result, loadMs, seed, model.earlyExit)) + '\n');
      return result.stats.finishReason === 'abort' ? EXIT_INTERRUPTED : EXIT_OK;
    }

    // Like llama2.c: the prompt first, then the continuation as it is generated.
    // The prompt is written once generation has started, so a prompt the model
    // rejects (too long for the context...) leaves stdout empty.
    let last = '';
    let promptShown = opts.chat || !prompt;
    const showPrompt = () => {
      if (promptShown) return;
      promptShown = true;
      io.stdout.write(prompt);
      last = prompt;
    };
    for await (const chunk of generation) {
      showPrompt();
      if (chunk.text) {
        io.stdout.write(chunk.text);
        last = chunk.text;
      }
    }
    showPrompt();
    const result = await generation.result;
    if (!last.endsWith('\n')) io.stdout.write('\n');
    io.stderr.write(formatRunStats(runJson(result, loadMs, seed, model.earlyExit).stats));
    return result.stats.finishReason === 'abort' ? EXIT_INTERRUPTED : EXIT_OK;
  } finally {
    await exitHandle?.dispose();
    await model.dispose();
  }
}

export function formatRunStats(s: RunJsonStats): string {
  const overall = s.total_ms > 0 ? (s.generated_tokens / s.total_ms) * 1000 : 0;
  return (
    `--- ${s.prompt_tokens} prompt tokens, ${s.generated_tokens} generated (finish: ${s.finish_reason}), backend ${s.backend}, seed ${s.seed}\n` +
    `--- prefill ${s.prefill_tokens_per_second.toFixed(1)} tok/s, decode ${s.decode_tokens_per_second.toFixed(1)} tok/s, ` +
    `achieved ${overall.toFixed(1)} tok/s; load ${s.load_ms.toFixed(1)} ms, first token ${s.time_to_first_token_ms.toFixed(1)} ms, total ${s.total_ms.toFixed(1)} ms\n` +
    (s.early_exit
      ? `--- early exit (${s.early_exit.drafter} drafter, threshold ${s.early_exit.threshold}, kv ${s.early_exit.kv_policy}): ` +
        `${s.early_exit.layers_per_token.toFixed(2)} layers/token (${(100 * s.early_exit.layers_fraction).toFixed(1)}% of depth), exit layers ${s.early_exit.histogram.join(' ')}\n`
      : '')
  );
}
