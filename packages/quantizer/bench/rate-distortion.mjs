#!/usr/bin/env node
/**
 * Rate–distortion sweep (issue #3's Pareto target): bitexit's allocator against
 * uniform round-to-nearest and uniform GPTQ on the fixture models.
 * Runs on the built dist (`npx turbo run build --filter=@bitexit/cli...` first):
 *
 *   node bench/rate-distortion.mjs [--models 260k,656k] [--chunks 40] [--no-gptq-plus] [--methods bitexit] [--only 'bitexit 4.5']
 *   node bench/rate-distortion.mjs --plot-only      (rewrite the SVG from the JSON)
 *
 * Writes bench-results/rate-distortion.json (points of the models run replace
 * earlier ones of the same model), bench-results/rate-distortion.svg and
 * bench-results/rate-distortion.md (the README's tables).
 * Protocol: bench/common.mjs (engine perplexity, ctx 256, first N chunks of the
 * first 80% of the dev text; calibration on the last 20%, disjoint).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { quantizeModel } from '@bitexit/quantizer';
import { argOpt, devSplit, fixtures, modelsIn, perplexity } from './common.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = resolve(here, '..', 'bench-results');
const jsonPath = join(outDir, 'rate-distortion.json');
const svgPath = join(outDir, 'rate-distortion.svg');
const args = process.argv.slice(2);
const BUDGETS = [2.5, 3.0, 3.5, 4.0, 4.5];
const WIDTHS = [2, 3, 4];
const GROUPS = [128, 64, 32];

// llama.cpp on stories260K: ../shared/fixtures/golden/README.md (llama-perplexity -c 256,
// whole dev text, F32 4.7601; bits per weight of the whole file).
const LLAMA_CPP = {
  source: 'fixtures/golden/README.md: llama-perplexity -c 256 on the whole tinystories-dev.txt (1,047 chunks), F32 4.7601; bits = whole file',
  f32: 4.7601,
  points: [
    { name: 'Q8_0', bits_file: 9.97, ppl: 4.7672 },
    { name: 'Q4_K_M', bits_file: 7.92, ppl: 4.8551 },
    { name: 'Q4_0', bits_file: 7.18, ppl: 5.1003 },
    { name: 'Q3_K_S / Q2_K', bits_file: 7.18, ppl: 5.0413 },
    { name: 'IQ2_XS', bits_file: 7.18, ppl: 5.0088 },
  ],
};

const METHODS = {
  bitexit: 'bitexit defaults (widths 2,3,4, group 64, GPTQ calibrated, act-order, refit, clipping, measured sensitivity, end-to-end fine-tuning 8 epochs)',
  rtn: 'uniform round-to-nearest (no calibration, no clipping)',
  gptq: 'uniform GPTQ (reference: calibrated, no act-order, no refit, no clipping, no fine-tuning)',
  'gptq+': "uniform GPTQ with bitexit's GPTQ improvements (act-order, refit ×2, clipping; no fine-tuning)",
};

function configs(withPlus) {
  const list = [];
  for (const g of GROUPS) for (const w of WIDTHS) list.push(['rtn', `RTN ${w}-bit g${g}`, { widths: [w], bits: 16, groupSize: g, clip: false }]);
  for (const g of GROUPS) for (const w of WIDTHS)
    list.push(['gptq', `GPTQ ${w}-bit g${g}`, { widths: [w], bits: 16, groupSize: g, clip: false, calib: true, actOrder: false, refit: 0, finetune: 0 }]);
  for (const b of BUDGETS) list.push(['bitexit', `bitexit ${b.toFixed(1)}`, { bits: b, calib: true, budget: b }]);
  if (withPlus) for (const g of GROUPS) for (const w of WIDTHS) list.push(['gptq+', `GPTQ+ ${w}-bit g${g}`, { widths: [w], bits: 16, groupSize: g, calib: true, finetune: 0 }]);
  return list;
}

async function sweep() {
  const F = fixtures();
  const models = modelsIn(F);
  const { evalText, calibText } = devSplit(F);
  const chunks = Number(argOpt(args, '--chunks', '40'));
  const wanted = argOpt(args, '--models', '260k,656k').split(',');
  const tmp = join(tmpdir(), `bitexit-rd-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const run = { models: {} };
  for (const key of wanted) {
    const m = models[key];
    if (!m) throw new Error(`unknown model ${key}`);
    const t0 = performance.now();
    const f32 = await perplexity(m.path, evalText, chunks);
    // --methods a,b / --only 'name,name': re-measure only those methods / settings and keep the saved JSON's other points.
    const methods = argOpt(args, '--methods', null)?.split(',') ?? null;
    const only = argOpt(args, '--only', null)?.split(',') ?? null;
    const all = configs(!args.includes('--no-gptq-plus'));
    const selected = all.filter(([method, name]) => (!methods || methods.includes(method)) && (!only || only.includes(name)));
    const selectedNames = new Set(selected.map(([, name]) => name));
    const saved = (methods || only) && existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')).models[m.label] : null;
    const kept = saved?.f32.chunks === chunks ? saved.points.filter((p) => !selectedNames.has(p.name)) : [];
    const entry = { label: m.label, path: m.path, f32: { ppl: f32.ppl, chunks: f32.chunks }, points: kept };
    const order = new Map(all.map(([, name], i) => [name, i]));
    const sortPoints = () => entry.points.sort((a, b) => (order.get(a.name) ?? 1e9) - (order.get(b.name) ?? 1e9));
    run.models[m.label] = entry;
    console.log(`${m.label} F32 ppl ${f32.ppl.toFixed(4)} (${f32.chunks} chunks)`);
    for (const [method, name, cfg] of selected) {
      const { calib, budget, ...o } = cfg;
      const out = join(tmp, 'q.gguf');
      const row = { method, name, budget: budget ?? null, options: o };
      try {
        const r = await quantizeModel(m.path, out, { ...o, ...(calib ? { calibText } : {}), backend: await createCpuBackend() });
        const p = await perplexity(out, evalText, chunks);
        Object.assign(row, {
          bits_matrices: r.bits_per_weight.matrices,
          bits_file: r.bits_per_weight.file,
          width_fractions: r.width_fractions,
          ppl: p.ppl,
          ratio: p.ppl / f32.ppl,
          chunks: p.chunks,
          quant_seconds: r.seconds,
        });
        console.log(`${m.label.padEnd(17)} ${name.padEnd(20)} bits ${row.bits_matrices.toFixed(3)} (file ${row.bits_file.toFixed(2)})  ppl ${row.ppl.toFixed(4)}  ×${row.ratio.toFixed(3)}`);
      } catch (e) {
        row.error = String(e?.message ?? e);
        console.log(`${m.label} ${name} — ${row.error}`);
      }
      entry.points.push(row);
      sortPoints();
      save(run, chunks, false); // keep partial results if the sweep is cut short
    }
    entry.seconds = (performance.now() - t0) / 1000;
    entry.verdict = verdict(entry);
    save(run, chunks, true);
  }
  rmSync(tmp, { recursive: true, force: true });
}

/**
 * Issue #3's Pareto condition per budget: bitexit's PPL ≤ the PPL of uniform RTN
 * and of uniform GPTQ "at the same or more bits", i.e. of each method's uniform
 * point (any width 2/3/4, group 32/64/128) with the fewest bits ≥ bitexit's actual
 * bits. GPTQ+ is checked the same way but reported apart. `dominated_by` lists the
 * uniform points that are better with the same or FEWER bits (the plain Pareto-front check).
 */
function verdict(entry) {
  const ok = entry.points.filter((p) => !p.error);
  const uniform = ok.filter((p) => p.method !== 'bitexit');
  return ok
    .filter((p) => p.method === 'bitexit')
    .map((b) => {
      const against = {};
      for (const method of ['rtn', 'gptq', 'gptq+']) {
        const up = uniform.filter((u) => u.method === method && u.bits_matrices >= b.bits_matrices - 1e-9);
        if (!up.length) continue;
        const n = up.reduce((a, u) => (u.bits_matrices < a.bits_matrices || (u.bits_matrices === a.bits_matrices && u.ppl < a.ppl) ? u : a));
        against[method] = { name: n.name, bits: n.bits_matrices, ppl: n.ppl, pass: b.ppl <= n.ppl };
      }
      const dominatedBy = uniform
        .filter((u) => u.bits_matrices <= b.bits_matrices + 1e-9 && u.ppl < b.ppl)
        .map((u) => ({ name: u.name, bits: u.bits_matrices, ppl: u.ppl }));
      const pass = ['rtn', 'gptq'].every((k) => !against[k] || against[k].pass);
      return { budget: b.budget, bits: b.bits_matrices, ppl: b.ppl, against, pareto_rtn_gptq: pass, dominated_by: dominatedBy };
    });
}

function save(run, chunks, final) {
  mkdirSync(outDir, { recursive: true });
  const prev = existsSync(jsonPath) ? JSON.parse(readFileSync(jsonPath, 'utf8')) : { models: {} };
  const doc = {
    meta: {
      date: new Date().toISOString(),
      protocol: `engine perplexity (llama-perplexity protocol), ctx 256, first ${chunks} chunks of the first 80% of fixtures/text/tinystories-dev.txt; calibration: last 20% of the file (disjoint), 2048 tokens`,
      bits: 'bits_matrices = bits per weight of the quantized matrices, every byte of the bx blobs counted (the file\'s own count, bitexit.quant.bits_per_weight); bits_file = all weights of the file',
      command: 'npx turbo run build --filter=@bitexit/cli... && cd packages/quantizer && node bench/rate-distortion.mjs --chunks 40 --models <260k|656k>',
      node: process.version,
      methods: METHODS,
      pareto: 'bitexit at budget B passes when its PPL ≤ the PPL of the uniform RTN point and of the uniform GPTQ point with the fewest bits ≥ bitexit\'s actual bits (any width 2/3/4, group 32/64/128); GPTQ+ reported apart; dominated_by = uniform points with ≤ bits and lower PPL',
    },
    models: { ...prev.models, ...run.models },
    llama_cpp_stories260K: LLAMA_CPP,
  };
  writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');
  if (final) {
    writeSvg(doc);
    writeMarkdown(doc);
  }
}

const f3 = (x) => x.toFixed(3);
/** The README tables: every measured point, then the Pareto verdict per budget. */
function writeMarkdown(doc) {
  const out = [`${doc.meta.protocol}. ${doc.meta.bits}.`, ''];
  for (const [label, m] of Object.entries(doc.models)) {
    out.push(`**${label}** (F32 PPL ${m.f32.ppl.toFixed(4)} on these ${m.f32.chunks} chunks)`, '');
    out.push('| method | setting | bits/weight (matrices) | bits/weight (file) | PPL | × F32 |', '| --- | --- | --- | --- | --- | --- |');
    const order = ['bitexit', 'rtn', 'gptq', 'gptq+'];
    const pts = [...m.points].sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method) || (a.bits_matrices ?? 0) - (b.bits_matrices ?? 0));
    for (const p of pts) {
      if (p.error) out.push(`| ${p.method} | ${p.name} | — | — | ${p.error} | |`);
      else out.push(`| ${p.method} | ${p.name} | ${f3(p.bits_matrices)} | ${p.bits_file.toFixed(2)} | ${p.ppl.toFixed(4)} | ${f3(p.ratio)} |`);
    }
    out.push('');
    if (!m.verdict) continue;
    out.push('| budget | bitexit bits / PPL | uniform RTN at ≥ bits | uniform GPTQ at ≥ bits | target met (≤ both)? | uniform GPTQ+ at ≥ bits | dominated by (≤ bits, lower PPL) |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const v of m.verdict) {
      const n = (k) => {
        const a = v.against[k];
        return a ? `${a.name}: ${f3(a.bits)} / ${a.ppl.toFixed(4)} → ${a.pass ? 'ours ≤' : '**ours >**'}` : 'none with ≥ bits';
      };
      const by = v.dominated_by.map((u) => `${u.name} (${f3(u.bits)}, ${u.ppl.toFixed(4)})`).join('; ') || '—';
      out.push(`| ${v.budget.toFixed(1)} | ${f3(v.bits)} / ${v.ppl.toFixed(4)} | ${n('rtn')} | ${n('gptq')} | ${v.pareto_rtn_gptq ? '**yes**' : '**no**'} | ${n('gptq+')} | ${by} |`);
    }
    out.push('');
  }
  writeFileSync(join(outDir, 'rate-distortion.md'), out.join('\n'));
  console.log(`wrote ${join(outDir, 'rate-distortion.md')}`);
}

// ---- SVG (hand-written: one panel per model, log-scale PPL ratio against bits) ----
const STYLE = {
  rtn: { color: '#d62728', dash: '6 4', marker: 'square', label: 'uniform RTN' },
  gptq: { color: '#1f77b4', dash: '', marker: 'diamond', label: 'uniform GPTQ' },
  'gptq+': { color: '#17becf', dash: '2 3', marker: 'diamond', label: 'uniform GPTQ+ (act-order, refit, clip)' },
  bitexit: { color: '#2ca02c', dash: '', marker: 'circle', label: 'bitexit (2/3/4 allocator)' },
};
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function marker(kind, x, y, color, r = 4) {
  if (kind === 'square') return `<rect x="${(x - r).toFixed(1)}" y="${(y - r).toFixed(1)}" width="${2 * r}" height="${2 * r}" fill="${color}"/>`;
  if (kind === 'diamond') return `<path d="M${x.toFixed(1)} ${(y - r - 1).toFixed(1)}l${r + 1} ${r + 1}l${-r - 1} ${r + 1}l${-r - 1} ${-r - 1}z" fill="${color}"/>`;
  if (kind === 'cross') return `<path d="M${x - r} ${y - r}L${x + r} ${y + r}M${x - r} ${y + r}L${x + r} ${y - r}" stroke="${color}" stroke-width="2"/>`;
  return `<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${r}" fill="${color}"/>`;
}

function writeSvg(doc) {
  const W = 900, PH = 430, ML = 64, MR = 20, MT = 40, MB = 50;
  const labels = Object.keys(doc.models);
  const H = labels.length * PH + 36;
  // y: log of the excess (PPL ÷ F32 − 1), so ×1.02 and ×100 both stay readable; F32 (×1) is the bottom edge.
  const eMin = 1e-3, eMax = 300;
  // x: 2–5 bits (the sweep) gets 78% of the width, 5–10.5 (llama.cpp) the rest.
  const xBreak = 5, xMax = 10.5, split = 0.78;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  labels.forEach((label, i) => {
    const m = doc.models[label];
    const top = i * PH;
    const pw = W - ML - MR, ph = PH - MT - MB;
    const X = (b) => ML + (b <= xBreak ? ((b - 2) / (xBreak - 2)) * split : split + ((b - xBreak) / (xMax - xBreak)) * (1 - split)) * pw;
    const Y = (r) => {
      const e = Math.min(Math.max(r - 1, eMin), eMax);
      return top + MT + ph - ((Math.log(e) - Math.log(eMin)) / (Math.log(eMax) - Math.log(eMin))) * ph;
    };
    parts.push(`<text x="${ML}" y="${top + 24}" font-size="15" font-weight="bold">${esc(label)}: PPL ÷ F32 PPL (F32 ${m.f32.ppl.toFixed(4)}, ${m.f32.chunks} chunks, ctx 256) against bits per weight</text>`);
    for (const t of [1.001, 1.003, 1.01, 1.03, 1.1, 1.3, 2, 4, 11, 31, 101, 301]) {
      parts.push(`<line x1="${ML}" x2="${ML + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
      parts.push(`<text x="${ML - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">×${t}</text>`);
    }
    for (const b of [2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10]) {
      parts.push(`<line x1="${X(b).toFixed(1)}" x2="${X(b).toFixed(1)}" y1="${top + MT}" y2="${top + MT + ph}" stroke="${b === xBreak ? '#999' : '#e5e5e5'}" ${b === xBreak ? 'stroke-dasharray="3 3"' : ''}/>`);
      parts.push(`<text x="${X(b).toFixed(1)}" y="${top + MT + ph + 16}" text-anchor="middle">${b}</text>`);
    }
    parts.push(`<text x="${ML + pw / 2}" y="${top + MT + ph + 34}" text-anchor="middle">bits per weight (quantized matrices, every byte counted; llama.cpp: whole file) — scale changes at 5</text>`);
    parts.push(`<text x="14" y="${top + MT + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${top + MT + ph / 2})">PPL ÷ F32 (log scale of the excess)</text>`);
    parts.push(`<rect x="${ML}" y="${top + MT}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    parts.push(`<line x1="${ML}" x2="${ML + pw}" y1="${top + MT + ph}" y2="${top + MT + ph}" stroke="black" stroke-width="3"/>`);
    parts.push(`<text x="${ML + 4}" y="${top + MT + ph - 6}">F32 (×1, ${m.f32.ppl.toFixed(4)})</text>`);
    for (const method of ['rtn', 'gptq', 'gptq+', 'bitexit']) {
      const s = STYLE[method];
      const pts = m.points.filter((p) => p.method === method && !p.error).sort((a, b) => a.bits_matrices - b.bits_matrices);
      if (!pts.length) continue;
      // Uniform methods: one line per group size would clutter; the line is the lower envelope (best PPL at ≤ bits), every point a marker.
      let line = pts;
      if (method !== 'bitexit') {
        line = [];
        for (const p of pts) if (!line.length || p.ppl < line[line.length - 1].ppl) line.push(p);
      }
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''} points="${line.map((p) => `${X(p.bits_matrices).toFixed(1)},${Y(p.ratio).toFixed(1)}`).join(' ')}"/>`);
      for (const p of pts)
        parts.push(`<g><title>${esc(`${p.name}: ${p.bits_matrices.toFixed(3)} bits, PPL ${p.ppl.toFixed(4)} (×${p.ratio.toFixed(3)})`)}</title>${marker(s.marker, X(p.bits_matrices), Y(p.ratio), s.color)}</g>`);
    }
    const lx = ML + pw - 400;
    let lyPos = top + MT + 16;
    for (const k of ['bitexit', 'gptq', 'gptq+', 'rtn'].filter((k) => m.points.some((p) => p.method === k))) {
      const s = STYLE[k];
      parts.push(`<line x1="${lx}" x2="${lx + 28}" y1="${lyPos - 4}" y2="${lyPos - 4}" stroke="${s.color}" stroke-width="2" ${s.dash ? `stroke-dasharray="${s.dash}"` : ''}/>`);
      parts.push(marker(s.marker, lx + 14, lyPos - 4, s.color));
      parts.push(`<text x="${lx + 34}" y="${lyPos}">${esc(s.label)}</text>`);
      lyPos += 16;
    }
    if (label === 'stories260K') {
      for (const p of doc.llama_cpp_stories260K.points) {
        const r = p.ppl / doc.llama_cpp_stories260K.f32;
        parts.push(`<g><title>${esc(`llama.cpp ${p.name}: ${p.bits_file} bits (whole file), PPL ${p.ppl} (×${r.toFixed(4)})`)}</title>${marker('cross', X(p.bits_file), Y(r), '#9467bd')}</g>`);
      }
      parts.push(marker('cross', lx + 14, lyPos - 4, '#9467bd'));
      parts.push(`<text x="${lx + 34}" y="${lyPos}">llama.cpp: Q8_0, Q4_K_M, Q4_0, Q3_K_S/Q2_K, IQ2_XS</text>`);
      parts.push(`<text x="${lx + 34}" y="${lyPos + 13}" font-size="10">(fixtures/golden/README.md: whole dev text,</text>`);
      parts.push(`<text x="${lx + 34}" y="${lyPos + 25}" font-size="10">F32 4.7601, bits of the whole file)</text>`);
      lyPos += 40;
    }
    parts.push(`<text x="${lx}" y="${lyPos}" font-size="10">uniform lines: lower envelope over widths 2/3/4 × groups 32/64/128</text>`);
  });
  doc.meta.protocol.split('; ').forEach((line, k, all) => parts.push(`<text x="${ML}" y="${H - 6 - 12 * (all.length - 1 - k)}" font-size="10">${esc(line)}</text>`));
  parts.push('</svg>');
  writeFileSync(svgPath, parts.join('\n') + '\n');
  console.log(`wrote ${svgPath}`);
}

if (args.includes('--plot-only')) {
  const doc = JSON.parse(readFileSync(jsonPath, 'utf8'));
  for (const m of Object.values(doc.models)) m.verdict = verdict(m);
  writeFileSync(jsonPath, JSON.stringify(doc, null, 2) + '\n');
  writeSvg(doc);
  writeMarkdown(doc);
} else {
  await sweep();
}
