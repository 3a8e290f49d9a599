#!/usr/bin/env node
/**
 * Rate–distortion measurements of the quantizer on the fixture models.
 * `npm run bench` (runs through vite-node so the workspace sources are used,
 * no build needed). Writes bench-results/quant.json and bench-results/quant.md.
 *
 *   npm run bench -- [--models 260k,656k] [--chunks N] [--only substring[,substring…]] [--full] [--tag T]
 *   (--tag T writes quant-T.json / quant-T.md, so two models can run side by side)
 *
 * Protocol: perplexity with the engine (llama-perplexity's protocol, ctx 256)
 * on the FIRST 80% of fixtures/text/tinystories-dev.txt, at most N chunks
 * (default 100); calibration text = the LAST 20% of the same file (disjoint).
 * When the backend has no bx kernel yet, bx tensors are dequantized to f32
 * at load (dequantizeBx, the normative values) — the numbers are identical.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { quantizeModel } from '@bitexit/quantizer';
import { argOpt, devSplit, fixtures, modelsIn, perplexity as pplOf } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, d) => argOpt(args, name, d);
const F = fixtures();
const chunks = Number(opt('--chunks', '100'));
const only = opt('--only');
const wanted = opt('--models', '260k,656k').split(',');
const { evalText, calibText } = devSplit(F);
const tmp = join(tmpdir(), `bitexit-quant-bench-${process.pid}`);
mkdirSync(tmp, { recursive: true });

const MODELS = modelsIn(F);

const rtn = (b) => ({ widths: [b], bits: 16, clip: false });
// Plain GPTQ (reference settings: no act-order, no scale refit) as the baseline; "GPTQ+" adds ours.
const gptq = (b) => ({ widths: [b], bits: 16, clip: false, calib: true, actOrder: false, refit: 0, finetune: 0 });
const gptqPlus = (b) => ({ widths: [b], bits: 16, calib: true, finetune: 0 });
// "ours" rows and their ablations: GPTQ-stage settings without the end-to-end fine-tuning (as
// measured before it existed); "ours … + fine-tuning" rows are today's defaults.
const ours = (bits, extra = {}) => ({ bits, calib: true, finetune: 0, ...extra });
const oursTuned = (bits, extra = {}) => ({ bits, calib: true, ...extra });
const ALL_CONFIGS = [
  ['F32', null],
  ['RTN 2-bit', rtn(2)],
  ['RTN 3-bit', rtn(3)],
  ['RTN 4-bit', rtn(4)],
  ['RTN+clip 3-bit', { widths: [3], bits: 16 }],
  ['GPTQ 3-bit', gptq(3)],
  ['GPTQ 4-bit', gptq(4)],
  ['GPTQ+ 3-bit (act-order, refit, clip)', gptqPlus(3)],
  ['GPTQ+ 4-bit (act-order, refit, clip)', gptqPlus(4)],
  ['ours 2.5', ours(2.5)],
  ['ours 2.9', ours(2.9)],
  ['ours 3.0', ours(3.0)],
  ['ours 3.3', ours(3.3)],
  ['ours 3.5', ours(3.5)],
  ['ours 4.0', ours(4.0)],
  ['ours 4.5 (all 4-bit)', ours(4.5)],
  ['ours 2.9 + fine-tuning (default)', oursTuned(2.9)],
  ['ours 3.3 + fine-tuning (default)', oursTuned(3.3)],
  ['ours 4.0 + fine-tuning (default)', oursTuned(4.0)],
  ['ablation 2.9 fine-tuning: codes fixed', oursTuned(2.9, { finetuneCodeLr: 0 })],
  ['ablation 3.3: widths 2,4 only', ours(3.3, { widths: [2, 4] })],
  ['ablation 3.3: + outliers 0.5%', ours(3.3, { outliers: 0.005 })],
  ['ablation 3.3: no second-order', ours(3.3, { secondOrder: false })],
  ['ablation 3.3: no clipping', ours(3.3, { clip: false })],
  ['ablation 3.3: no GPTQ', ours(3.3, { gptq: false })],
  ['ablation 3.3: no calibration', { bits: 3.3 }],
  ['ablation 3.3: relative sensitivity', ours(3.3, { sensitivity: 'relative' })],
  ['ablation 3.3: no act-order', ours(3.3, { actOrder: false })],
  ['ablation 3.3: no refit', ours(3.3, { refit: 0 })],
  ['ablation 2.9: relative sensitivity', ours(2.9, { sensitivity: 'relative' })],
  ['ablation 3.3: absolute sensitivity', ours(3.3, { sensitivity: 'absolute' })],
  ['ablation 3.3: 32k calibration tokens', ours(3.3, { calibTokens: 32768 })],
  ['ablation 3.3: embeddings f16', ours(3.3, { embeddingDType: 'f16' })],
  ['ablation 2.9: + outliers 0.5%', ours(2.9, { outliers: 0.005 })],
  ['ablation 2.9: group size 32', ours(2.9, { groupSize: 32 })],
  ['ablation 3.3: group size 32', ours(3.3, { groupSize: 32 })],
  ['ablation 2.9: 6-bit second-order codes', ours(2.9, { scaleBits: 6 })],
];
// The default run: the essential points (the whole list with --full).
const ESSENTIAL = new Set([
  'F32', 'RTN 2-bit', 'RTN 3-bit', 'RTN 4-bit', 'GPTQ 3-bit', 'GPTQ 4-bit',
  'GPTQ+ 3-bit (act-order, refit, clip)', 'GPTQ+ 4-bit (act-order, refit, clip)',
  'ours 2.5', 'ours 2.9', 'ours 3.0', 'ours 3.3', 'ours 3.5', 'ours 4.0',
  'ours 2.9 + fine-tuning (default)', 'ours 3.3 + fine-tuning (default)', 'ours 4.0 + fine-tuning (default)',
  'ablation 3.3: widths 2,4 only', 'ablation 3.3: + outliers 0.5%', 'ablation 3.3: no second-order',
  'ablation 3.3: no clipping', 'ablation 3.3: no GPTQ',
  'ablation 3.3: relative sensitivity', 'ablation 3.3: no act-order', 'ablation 3.3: no refit',
]);
const CONFIGS = args.includes('--full') || only ? ALL_CONFIGS : ALL_CONFIGS.filter(([name]) => ESSENTIAL.has(name));

const perplexity = (path) => pplOf(path, evalText, chunks);

const results = [];
for (const key of wanted) {
  const m = MODELS[key];
  if (!m) continue;
  for (const [name, cfg] of CONFIGS) {
    if (only && !only.split(',').some((o) => name.includes(o))) continue;
    const row = { model: m.label, config: name, options: cfg };
    try {
      if (!cfg) {
        const p = await perplexity(m.path);
        Object.assign(row, { bits_matrices: 32, bits_file: 32, ppl: p.ppl, chunks: p.chunks });
      } else {
        const { calib, ...o } = cfg;
        const out = join(tmp, 'q.gguf');
        const r = await quantizeModel(m.path, out, { ...o, ...(calib ? { calibText } : {}), backend: await createCpuBackend() });
        const p = await perplexity(out);
        Object.assign(row, {
          bits_matrices: r.bits_per_weight.matrices,
          bits_file: r.bits_per_weight.file,
          width_fractions: r.width_fractions,
          outliers: r.outliers.count,
          quant_seconds: r.seconds,
          ppl: p.ppl,
          chunks: p.chunks,
        });
      }
    } catch (e) {
      row.error = String(e?.message ?? e);
    }
    results.push(row);
    const f32 = results.find((x) => x.model === m.label && x.config === 'F32')?.ppl;
    console.log(
      `${m.label.padEnd(17)} ${name.padEnd(36)} ${row.error ? `— ${row.error}` : `bits ${row.bits_matrices.toFixed(3)} (file ${row.bits_file.toFixed(2)})  ppl ${row.ppl.toFixed(4)}${f32 ? `  ×${(row.ppl / f32).toFixed(3)}` : ''}`}`,
    );
  }
}
rmSync(tmp, { recursive: true, force: true });

const outDir = resolve(here, '..', 'bench-results');
mkdirSync(outDir, { recursive: true });
const meta = {
  date: new Date().toISOString(),
  protocol: `perplexity ctx 256 on the first 80% of tinystories-dev.txt, first ${chunks} chunks; calibration: last 20% of the file, 2048 tokens (8 × 256)`,
  node: process.version,
};
const tag = opt('--tag');
const base = tag ? `quant-${tag}` : 'quant';
writeFileSync(join(outDir, `${base}.json`), JSON.stringify({ meta, results }, null, 2) + '\n');
const lines = [
  `| model | configuration | bits/weight (matrices) | bits/weight (file) | PPL | × F32 |`,
  `| --- | --- | --- | --- | --- | --- |`,
];
for (const r of results) {
  const f32 = results.find((x) => x.model === r.model && x.config === 'F32')?.ppl;
  if (r.error) lines.push(`| ${r.model} | ${r.config} | — | — | ${r.error} | |`);
  else lines.push(`| ${r.model} | ${r.config} | ${r.bits_matrices.toFixed(3)} | ${r.bits_file.toFixed(2)} | ${r.ppl.toFixed(4)} | ${f32 ? (r.ppl / f32).toFixed(3) : ''} |`);
}
writeFileSync(join(outDir, `${base}.md`), `${meta.protocol}\n\n${lines.join('\n')}\n`);
console.log(`wrote ${join(outDir, `${base}.json`)} and ${base}.md`);
