#!/usr/bin/env node
/**
 * Quick experiments: `npm run explore -- --model 260k|656k [--chunks 40] [--detail] --cfg '[["name", {...options}], ...]'`
 * Same protocol as results.mjs (eval: first 80% of the dev text; calibration: last 20%).
 * Options are QuantizeOptions plus `calib: false` to skip calibration text.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { quantizeModel } from '@bitexit/quantizer';
import { argOpt, devSplit, fixtures, modelsIn, perplexity as pplOf } from './common.mjs';

const args = process.argv.slice(2);
const opt = (name, d) => argOpt(args, name, d);
const F = fixtures();
const chunks = Number(opt('--chunks', '40'));
const { evalText, calibText } = devSplit(F);
const MODELS = Object.fromEntries(Object.entries(modelsIn(F)).map(([k, m]) => [k, m.path]));
const F32 = { '260k': 3.8232, '656k': 30.5227 };
const key = opt('--model', '260k');
const path = MODELS[key];
const cfgs = JSON.parse(opt('--cfg', '[]'));

const perplexity = (p) => pplOf(p, evalText, chunks);
const out = join(tmpdir(), `bitexit-explore-${process.pid}.gguf`);
for (const [name, cfg] of cfgs) {
  const { calib = true, ...o } = cfg;
  const t0 = performance.now();
  const r = await quantizeModel(path, out, { ...o, ...(calib ? { calibText } : {}), backend: await createCpuBackend() });
  const t1 = performance.now();
  const p = await perplexity(out);
  const t2 = performance.now();
  const wf = r.width_fractions;
  if (args.includes('--notes')) console.log(r.notes.join('\n'));
  if (args.includes('--detail'))
    console.log(r.per_tensor.filter((t) => t.widths).map((t) => `${t.name.replace('.weight', '')} ${[t.widths['2'], t.widths['3'], t.widths['4']].map((x) => x.toFixed(2)).join('/')} e=${t.relative_error.toFixed(4)}`).join('\n'));
  console.log(
    `${key} ${name.padEnd(40)} bits ${r.bits_per_weight.matrices.toFixed(3)} file ${r.bits_per_weight.file.toFixed(2)} w2/3/4 ${[wf['2'], wf['3'], wf['4']].map((x) => x.toFixed(2)).join('/')}  ppl ${p.ppl.toFixed(4)} ×${(p.ppl / F32[key]).toFixed(3)}  (q ${((t1 - t0) / 1000).toFixed(1)}s, ppl ${((t2 - t1) / 1000).toFixed(1)}s)`,
  );
}
