#!/usr/bin/env node
/**
 * Quick experiments: `npm run explore -- --model 260k|656k [--chunks 40] [--detail] --cfg '[["name", {...options}], ...]'`
 * Same protocol as results.mjs (eval: first 80% of the dev text; calibration: last 20%).
 * Options are QuantizeOptions plus `calib: false` to skip calibration text.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, openModel } from '@bitexit/engine';
import { dequantizeBx, encodeF32 } from '@bitexit/format';
import { fixturesDir } from '@bitexit/format/node';
import { quantizeModel } from '@bitexit/quantizer';

const args = process.argv.slice(2);
const opt = (name, d) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : d;
};
const F = fixturesDir();
const chunks = Number(opt('--chunks', '40'));
const text = readFileSync(join(F, 'text/tinystories-dev.txt'), 'utf8');
const cut = Math.floor(text.length * 0.8);
const evalText = text.slice(0, cut);
const calibText = text.slice(cut);
const MODELS = { '260k': join(F, 'stories260K/stories260K.gguf'), '656k': join(F, 'tinystories-656k') };
const F32 = { '260k': 3.8232, '656k': 30.5227 };
const key = opt('--model', '260k');
const path = MODELS[key];
const cfgs = JSON.parse(opt('--cfg', '[]'));

async function perplexity(p) {
  const backend = await createCpuBackend();
  const src = await openModel(p);
  if (!backend.capabilities.weightDTypes.includes('bx')) {
    for (const e of src.tensors.values()) {
      if (e.dtype !== 'bx') continue;
      const load = e.load;
      e.load = async () => {
        const t = await load();
        return { name: t.name, dtype: 'f32', shape: t.shape, data: encodeF32(dequantizeBx(t.data)) };
      };
    }
  }
  const model = await loadModel(src, { backend, contextLength: 256 });
  try {
    return await model.perplexity(evalText, { ctx: 256, maxChunks: chunks });
  } finally {
    await model.dispose();
  }
}
const out = join(tmpdir(), `bitexit-explore-${process.pid}.gguf`);
for (const [name, cfg] of cfgs) {
  const { calib = true, ...o } = cfg;
  const t0 = performance.now();
  const r = await quantizeModel(path, out, { ...o, ...(calib ? { calibText } : {}), backend: await createCpuBackend() });
  const t1 = performance.now();
  const p = await perplexity(out);
  const t2 = performance.now();
  const wf = r.width_fractions;
  if (args.includes('--detail'))
    console.log(r.per_tensor.filter((t) => t.widths).map((t) => `${t.name.replace('.weight', '')} ${[t.widths['2'], t.widths['3'], t.widths['4']].map((x) => x.toFixed(2)).join('/')} e=${t.relative_error.toFixed(4)}`).join('\n'));
  console.log(
    `${key} ${name.padEnd(40)} bits ${r.bits_per_weight.matrices.toFixed(3)} file ${r.bits_per_weight.file.toFixed(2)} w2/3/4 ${[wf['2'], wf['3'], wf['4']].map((x) => x.toFixed(2)).join('/')}  ppl ${p.ppl.toFixed(4)} ×${(p.ppl / F32[key]).toFixed(3)}  (q ${((t1 - t0) / 1000).toFixed(1)}s, ppl ${((t2 - t1) / 1000).toFixed(1)}s)`,
  );
}
