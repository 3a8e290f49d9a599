import { evalExitsFromText, evalExitsJson, loadExitsFile } from '@bitexit/specee/node';
import type { CliIO } from '../io.js';
import { requirePath } from '../model.js';
import { progressEnabled } from '../progress.js';
import { backendFor, readText, resolveModel, stageBar } from './exits-common.js';

export interface EvalExitsCliOptions {
  model?: string;
  tokenizer?: string;
  exits: string;
  text: string;
  maxTokens: number;
  threshold?: number[];
  backend: string;
  json?: boolean;
  progress?: boolean;
}

/** `bitexit eval exits`: teacher-forced SpecEE simulation (layers executed, agreement, perplexity). */
export async function evalExitsCommand(opts: EvalExitsCliOptions, io: CliIO): Promise<number> {
  const modelPath = await resolveModel(opts.model);
  await requirePath(opts.exits, 'exits file');
  if (opts.tokenizer) await requirePath(opts.tokenizer, 'tokenizer file');
  const text = await readText(opts.text);
  const exits = await loadExitsFile(opts.exits);
  const backend = await backendFor(opts.backend);
  const bar = stageBar(progressEnabled(opts.progress, io.stderr), io.stderr, 'eval exits');
  try {
    const r = await evalExitsFromText({
      modelPath,
      ...(opts.tokenizer ? { tokenizerPath: opts.tokenizer } : {}),
      exits,
      text,
      backend,
      maxTokens: opts.maxTokens,
      ...(opts.threshold?.length ? { thresholds: opts.threshold } : {}),
      onProgress: (p) => bar.update(p),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    bar.stop();
    const json = r.results.map(({ threshold, sim }) => evalExitsJson(sim, threshold, r.drafter));
    if (opts.json) {
      io.stdout.write(JSON.stringify(json.length === 1 ? json[0] : json) + '\n');
      return 0;
    }
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    const lines: string[] = [];
    for (const j of json) {
      lines.push(
        `threshold ${j.threshold}: ${j.layers_mean.toFixed(2)} of ${j.n_layers} layers (${pct(j.layers_fraction)}), teacher-forced agreement ${pct(j.agreement_teacher_forced)}, ppl ${j.ppl_full.toFixed(3)} → ${j.ppl_exit.toFixed(3)} with exit`,
        `  exit-layer histogram (last = full depth): ${j.histogram.join(' ')}`,
        `  drafter ${j.drafter}: final token among the drafts ${pct(j.draft_hit_rate)}; predictors ${j.predictor_calls_per_token.toFixed(2)}/token, extra LM heads ${j.lm_head_calls_per_token.toFixed(2)}/token, overhead ${j.predictor_overhead_flops_fraction === null ? '?' : pct(j.predictor_overhead_flops_fraction)} of full-depth FLOPs, FLOPs ratio ${j.flops_ratio === null ? '?' : j.flops_ratio.toFixed(3)}`,
      );
    }
    lines.push(`over ${json[0]!.tokens} tokens. note: ${json[0]!.note}`);
    io.stdout.write(lines.join('\n') + '\n');
    return 0;
  } finally {
    bar.stop();
    await backend.dispose();
  }
}
