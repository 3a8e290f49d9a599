import cliProgress from 'cli-progress';
import { QuantizeOptionError, quantizeModel, type QuantizeReport, type Width } from '@bitexit/quantizer';
import type { CliIO } from '../io.js';
import { requirePath } from '../model.js';
import { setupBackends, requireBackendInstalled } from '../backends.js';
import { UsageError } from '../errors.js';
import { progressEnabled } from '../progress.js';

export interface QuantizeCliOptions {
  output: string;
  bits: number;
  widths?: string;
  calib?: string;
  calibTokens?: number;
  groupSize?: number;
  outliers?: number;
  gptq: boolean;
  actOrder?: boolean;
  refit?: number;
  sensitivity?: 'measured' | 'relative' | 'absolute';
  finetune?: number;
  finetuneTokens?: number;
  finetuneLr?: number;
  finetuneCodeLr?: number;
  secondOrder: boolean;
  clip: boolean;
  embeddings?: 'f32' | 'f16' | 'q8_0';
  lmHead?: 'f32' | 'f16' | 'q8_0';
  tokenizer?: string;
  backend: string;
  json?: boolean;
  progress?: boolean;
}

function parseWidths(s: string | undefined): Width[] | undefined {
  if (s === undefined) return undefined;
  const parts = s.split(',').map((x) => x.trim());
  const out: Width[] = [];
  for (const p of parts) {
    if (p !== '2' && p !== '3' && p !== '4') throw new UsageError(`--widths takes a comma-separated list of 2, 3 and 4, got '${s}'`);
    out.push(Number(p) as Width);
  }
  return out;
}

/** Exactly the JSON printed by `quantize --json`. */
export function quantizeJson(r: QuantizeReport) {
  return {
    bits_per_weight: r.bits_per_weight,
    width_fractions: r.width_fractions,
    outliers: r.outliers,
    per_tensor: r.per_tensor,
    seconds: r.seconds,
  };
}

/** `bitexit quantize INPUT -o OUTPUT.gguf`: mixed-precision bx quantization under a global bit budget. */
export async function quantizeCommand(input: string, opts: QuantizeCliOptions, io: CliIO): Promise<number> {
  await requirePath(input, 'model');
  if (opts.calib) await requirePath(opts.calib, 'calibration text');
  if (opts.tokenizer) await requirePath(opts.tokenizer, 'tokenizer file');
  const widths = parseWidths(opts.widths);
  await setupBackends();
  const backendName = opts.backend === 'auto' ? 'auto' : opts.backend;
  if (backendName !== 'auto') await requireBackendInstalled(backendName);
  const show = progressEnabled(opts.progress, io.stderr);
  const bar = show
    ? new cliProgress.SingleBar(
        {
          stream: io.stderr as unknown as NodeJS.WritableStream,
          format: 'quantize {bar} {percentage}% | eta {eta_formatted} | {stage} {detail}',
          hideCursor: io.stderr.isTTY === true,
          clearOnComplete: io.stderr.isTTY === true,
          noTTYOutput: true,
          notTTYSchedule: 1000,
          barsize: 30,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  try {
    const report = await quantizeModel(
      input,
      opts.output,
      {
        bits: opts.bits,
        widths,
        calibPath: opts.calib,
        calibTokens: opts.calibTokens,
        groupSize: opts.groupSize,
        outliers: opts.outliers,
        gptq: opts.gptq,
        actOrder: opts.actOrder,
        refit: opts.refit,
        sensitivity: opts.sensitivity,
        finetune: opts.finetune,
        finetuneTokens: opts.finetuneTokens,
        finetuneLr: opts.finetuneLr,
        finetuneCodeLr: opts.finetuneCodeLr,
        secondOrder: opts.secondOrder,
        clip: opts.clip,
        embeddingDType: opts.embeddings,
        outputDType: opts.lmHead,
        tokenizerPath: opts.tokenizer,
        backend: backendName,
        signal: io.signal,
      },
      (p) => {
        if (!bar) return;
        const payload = { stage: p.stage, detail: p.detail ?? '' };
        if (!started) {
          bar.start(Math.max(1, Math.round(p.total)), Math.round(p.done), payload);
          started = true;
        } else bar.update(Math.round(p.done), payload);
      },
    ).catch((e: unknown) => {
      // A budget or option the model cannot take is a usage mistake (exit 2), like a bad flag value.
      throw e instanceof QuantizeOptionError ? new UsageError(e.message) : e;
    });
    bar?.stop();
    if (opts.json) {
      io.stdout.write(JSON.stringify(quantizeJson(report)) + '\n');
      return 0;
    }
    const s = report.settings;
    const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
    io.stdout.write(
      [
        `wrote ${opts.output}`,
        `bits per weight: ${report.bits_per_weight.matrices.toFixed(3)} (quantized matrices, every byte counted), ${report.bits_per_weight.file.toFixed(3)} (all weights of the file)`,
        `widths: 2-bit ${pct(report.width_fractions['2'])}, 3-bit ${pct(report.width_fractions['3'])}, 4-bit ${pct(report.width_fractions['4'])} of the matrix weights; outliers ${report.outliers.count} (${pct(report.outliers.fraction)})`,
        `method: group ${s.groupSize}, widths ${s.widths.join(',')}, ${s.calibrated ? `calibrated on ${s.calibrationTokens} tokens` : 'uncalibrated (H = I)'}, ${s.gptq ? `GPTQ${s.actOrder ? ' act-order' : ''}${s.refit > 0 ? `, scale refit ×${s.refit}` : ''}` : 'round-to-nearest'}, ${s.sensitivity} sensitivity, ${s.finetuneEpochs > 0 ? `fine-tuning ${s.finetuneEpochs} epochs` : 'no fine-tuning'}, clipping ${s.clip ? 'on' : 'off'}, second-order scales ${s.secondOrder ? 'on' : 'off'}`,
        `policy: norms f32, token embedding ${s.embedding}, LM head ${s.output === 'tied' ? 'tied to the embedding' : s.output}, the 7 linear matrices of every layer mixed-precision bx`,
        ...report.notes.map((n) => `note: ${n}`),
        `${report.seconds.toFixed(1)} s`,
      ].join('\n') + '\n',
    );
    return 0;
  } finally {
    bar?.stop();
  }
}
