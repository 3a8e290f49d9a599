import { readFile } from 'node:fs/promises';
import type { PerplexityResult } from '@bitexit/engine';
import { FileAccessError } from '@bitexit/format';
import type { CliIO } from '../io.js';
import { loadForCli, requirePath } from '../model.js';
import { chunkProgress, progressEnabled } from '../progress.js';

export interface EvalPplOptions {
  model?: string;
  text: string;
  /** Chunk length (-c/--context), also the KV-cache length. */
  context?: number;
  tokenizer?: string;
  maxChunks?: number;
  backend: string;
  json?: boolean;
  progress?: boolean;
}

/** Exactly the JSON printed by `eval ppl --json` (snake_case, like all of the CLI's JSON). */
export interface PplJson {
  ppl: number;
  nll: number;
  tokens_scored: number;
  chunks: number;
  ctx: number;
}

export function pplJson(r: PerplexityResult): PplJson {
  return { ppl: r.ppl, nll: r.nll, tokens_scored: r.tokensScored, chunks: r.chunks, ctx: r.ctx };
}

/** `bitexit eval ppl`: perplexity with llama-perplexity's protocol (chunks of ctx, second half scored). */
export async function evalPplCommand(opts: EvalPplOptions, io: CliIO): Promise<number> {
  await requirePath(opts.text, 'text file');
  let text: string;
  try {
    text = await readFile(opts.text, 'utf8');
  } catch (e) {
    throw new FileAccessError(opts.text, `cannot read text file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  const progress = progressEnabled(opts.progress, io.stderr);
  const { model, loadMs } = await loadForCli({
    model: opts.model,
    tokenizer: opts.tokenizer,
    backend: opts.backend,
    context: opts.context,
    progress,
    stderr: io.stderr,
  });
  const bar = chunkProgress(progress, io.stderr, 'perplexity');
  try {
    const t0 = performance.now();
    const result = await model.perplexity(text, {
      ...(opts.context ? { ctx: opts.context } : {}),
      ...(opts.maxChunks ? { maxChunks: opts.maxChunks } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      onProgress: (done, total) => bar.update({ done, total }),
    });
    bar.stop();
    const ms = performance.now() - t0;
    if (opts.json) {
      io.stdout.write(JSON.stringify(pplJson(result)) + '\n');
    } else {
      io.stdout.write(
        `ppl ${result.ppl.toFixed(4)}  nll ${result.nll.toFixed(6)}  tokens_scored ${result.tokensScored}  chunks ${result.chunks}  ctx ${result.ctx}\n`,
      );
      const evaluated = result.chunks * result.ctx;
      io.stderr.write(
        `--- backend ${model.info.backend}, load ${loadMs.toFixed(1)} ms, eval ${(ms / 1000).toFixed(2)} s, ${((evaluated / ms) * 1000).toFixed(0)} tok/s\n`,
      );
    }
    return 0;
  } finally {
    bar.stop();
    await model.dispose();
  }
}
