import { evalExitsDecoding, evalExitsFromText, evalExitsJson, loadExitsFile, type DecodeEvalRow } from '@bitexit/specee/node';
import type { KvPolicy } from '@bitexit/engine';
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
  exitThreshold?: number[];
  backend: string;
  json?: boolean;
  progress?: boolean;
  /** Teacher-forced simulation from traces instead of real decoding. */
  simulate?: boolean;
  kvPolicy: 'mask' | 'propagate' | 'both';
  prompts: number;
  newTokens: number;
}

/** `bitexit eval exits`: early exit measured in real decoding, or (`--simulate`) the teacher-forced simulation. */
export async function evalExitsCommand(opts: EvalExitsCliOptions, io: CliIO): Promise<number> {
  const modelPath = await resolveModel(opts.model);
  await requirePath(opts.exits, 'exits file');
  if (opts.tokenizer) await requirePath(opts.tokenizer, 'tokenizer file');
  const text = await readText(opts.text);
  const exits = await loadExitsFile(opts.exits);
  const backend = await backendFor(opts.backend);
  // What both measurements take.
  const common = {
    modelPath,
    ...(opts.tokenizer ? { tokenizerPath: opts.tokenizer } : {}),
    exits,
    text,
    backend,
    maxTokens: opts.maxTokens,
    ...(opts.exitThreshold?.length ? { thresholds: opts.exitThreshold } : {}),
    ...(io.signal ? { signal: io.signal } : {}),
  };
  if (!opts.simulate) return decodeEval(common, opts, io);
  const bar = stageBar(progressEnabled(opts.progress, io.stderr), io.stderr, 'eval exits');
  try {
    const r = await evalExitsFromText({ ...common, onProgress: (p) => bar.update(p) });
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

/** Real exit-aware decoding through the engine, with and without exit in the same run. */
async function decodeEval(
  common: Omit<Parameters<typeof evalExitsDecoding>[0], 'kvPolicies' | 'prompts' | 'newTokens' | 'onProgress'>,
  opts: EvalExitsCliOptions,
  io: CliIO,
): Promise<number> {
  const bar = stageBar(progressEnabled(opts.progress, io.stderr), io.stderr, 'eval exits');
  try {
    const kvPolicies: KvPolicy[] = opts.kvPolicy === 'both' ? ['propagate', 'mask'] : [opts.kvPolicy];
    const rows = await evalExitsDecoding({
      ...common,
      prompts: opts.prompts,
      newTokens: opts.newTokens,
      kvPolicies,
      onProgress: (p) => bar.update({ stage: 'collect', done: p.done, total: p.total, detail: p.stage }),
    });
    bar.stop();
    if (opts.json) {
      io.stdout.write(JSON.stringify(rows.length === 1 ? rows[0] : rows) + '\n');
      return 0;
    }
    io.stdout.write(formatDecodeRows(rows));
    return 0;
  } finally {
    bar.stop();
    await common.backend.dispose();
  }
}

export function formatDecodeRows(rows: DecodeEvalRow[]): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const lines: string[] = [];
  for (const r of rows) {
    lines.push(
      `threshold ${r.threshold}, kv ${r.kv_policy}: ${r.layers_mean.toFixed(2)} of ${r.n_layers} layers (${pct(r.layers_fraction)}), teacher-forced agreement ${pct(r.agreement_teacher_forced)}, ppl ${r.ppl_full.toFixed(3)} → ${r.ppl_exit.toFixed(3)}`,
      `  free-running greedy: ${pct(r.agreement_free_running)} identical tokens (${pct(r.agreement_free_running_prefix)} before the first divergence), ${pct(r.free_running_layers_fraction)} of depth`,
      `  decode ${r.decode_tps_full.toFixed(1)} → ${r.decode_tps_exit.toFixed(1)} tok/s (speedup ${r.speedup.toFixed(3)}x); predictors ${pct(r.predictor_time_share)} of a full-depth step, drafter ${pct(r.draft_time_share)} of an exit step`,
      `  exit-layer histogram (last = full depth): ${r.histogram.join(' ')}`,
    );
  }
  const r0 = rows[0]!;
  lines.push(`over ${r0.tokens} teacher-forced tokens and ${r0.prompts} prompts x ${r0.new_tokens} new tokens, drafter ${r0.drafter}`);
  return lines.join('\n') + '\n';
}
