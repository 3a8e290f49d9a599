#!/usr/bin/env node
/**
 * Scale test: does `bitexit quantize` stream a 7B-class Hugging Face
 * checkpoint layer by layer within a 24 GB machine, and how long does a layer take?
 *
 * No real 7B checkpoint is needed (nor downloaded): the script writes a SYNTHETIC
 * Llama checkpoint with the real Llama-2-7B layer shapes (hidden 4096,
 * intermediate 11008, 32 heads, 32 KV heads, vocab 32000, rms eps 1e-5,
 * rope theta 1e4, untied LM head) but only N decoder layers, random weights
 * (normal, std 0.02, seeded per tensor so layer i is the same whatever N is;
 * norms = 1), stored as BF16 safetensors sharded like the Hub's
 * (model-0000k-of-0000K.safetensors + model.safetensors.index.json), with
 * config.json, generation_config.json and the TinyStories-656K fixture's
 * tokenizer (2,048 tokens ≤ vocab 32,000, which the engine's loader accepts).
 *
 * Then it runs the real CLI (packages/cli/bin/bitexit.js, the built dist) on it
 * under /usr/bin/time -v, in each mode:
 *   rtn   `quantize DIR -o OUT --bits 2.9 --json --progress` (no calibration)
 *   gptq  the same with `--calib tinystories-dev.txt --calib-tokens T`
 * recording peak RSS (time's "Maximum resident set size", and /proc polling for
 * the RSS over time), wall time, the time spent in each progress stage (from the
 * progress bar's lines on stderr, timestamped as they arrive, ±1 s), then
 * `bitexit inspect OUT --json` on the result.
 *
 * Usage (from packages/quantizer, after `npx turbo run build --filter=@bitexit/cli...`):
 *   node bench/scale.mjs [--layers 1,2] [--modes rtn,gptq] [--calib-tokens 256]
 *                        [--bits 2.9] [--refit N (default 0)] [--cli-args "--no-clip ..."]
 *                        [--dir /tmp/x] [--keep] [--no-write]
 * Defaults: 2 layers, both modes, 256 calibration tokens, refit 0 (the CLI's default
 * refit 2 costs hours per 7B layer: see scale.md). A 7B-shaped layer takes ~11 min
 * uncalibrated and ~15 min calibrated with --no-clip, ~25 min with the clipping search.
 *   node bench/scale.mjs generate --layers 2 --dir /tmp/bx-7b-2l     (only write the model)
 * Results: bench-results/scale.json (runs replace earlier ones with the same
 * layers + mode + calib tokens) and bench-results/scale.md.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = resolve(here, '..');
const repo = resolve(pkg, '..', '..');
const outDir = join(pkg, 'bench-results');
const cli = join(repo, 'packages/cli/bin/bitexit.js');
const fixtures = process.env.BITEXIT_FIXTURES ?? resolve(repo, '..', 'shared/fixtures');

const argv = process.argv.slice(2);
const sub = argv[0] && !argv[0].startsWith('--') ? argv.shift() : 'run';
const opt = (name, d) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : d;
};
const flag = (name) => argv.includes(name);

/** Llama-2-7B's shapes (meta-llama/Llama-2-7b-hf config.json), N layers. */
export const LLAMA7B = {
  hidden_size: 4096,
  intermediate_size: 11008,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  max_position_embeddings: 4096,
};

// ------------------------------------------------------------------ random weights

/** FNV-1a of a string → 32-bit seed. */
function hash32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** xorshift128 (32-bit state words) → uniform in (0, 1). */
function rng(seed) {
  let a = seed | 0 || 1;
  let b = 0x9e3779b9;
  let c = 0x243f6a88;
  let d = 0xb7e15162;
  for (let i = 0; i < 16; i++) next();
  function next() {
    const t = a ^ (a << 11);
    a = b;
    b = c;
    c = d;
    d = (d ^ (d >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return (d + 0.5) / 4294967296;
  }
  return next;
}

/** n normals (mean 0, std `std`) as BF16 bits (round to nearest even), seeded by `seed`. */
function normalBf16(n, std, seed) {
  const out = new Uint16Array(n);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const next = rng(seed);
  const toBf16 = (x) => {
    f[0] = x;
    const b = u[0];
    return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  };
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next())) * std;
    const t = 2 * Math.PI * next();
    out[i] = toBf16(r * Math.cos(t));
    if (i + 1 < n) out[i + 1] = toBf16(r * Math.sin(t));
  }
  return out;
}

const BF16_ONE = 0x3f80;

/** The tensors of an N-layer Llama in Hugging Face order: name, shape, init. */
function tensorList(layers, cfg) {
  const H = cfg.hidden_size;
  const F = cfg.intermediate_size;
  const kv = (H / cfg.num_attention_heads) * cfg.num_key_value_heads;
  const t = [{ name: 'model.embed_tokens.weight', shape: [cfg.vocab_size, H] }];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    t.push(
      { name: `${p}input_layernorm.weight`, shape: [H], ones: true },
      { name: `${p}mlp.down_proj.weight`, shape: [H, F] },
      { name: `${p}mlp.gate_proj.weight`, shape: [F, H] },
      { name: `${p}mlp.up_proj.weight`, shape: [F, H] },
      { name: `${p}post_attention_layernorm.weight`, shape: [H], ones: true },
      { name: `${p}self_attn.k_proj.weight`, shape: [kv, H] },
      { name: `${p}self_attn.o_proj.weight`, shape: [H, H] },
      { name: `${p}self_attn.q_proj.weight`, shape: [H, H] },
      { name: `${p}self_attn.v_proj.weight`, shape: [kv, H] },
    );
  }
  t.push({ name: 'model.norm.weight', shape: [H], ones: true }, { name: 'lm_head.weight', shape: [cfg.vocab_size, H] });
  return t;
}

/**
 * Writes the synthetic checkpoint to `dir`. Shards hold whole tensors and are cut
 * at `shardBytes` like the Hub's (a tensor never spans two shards).
 */
export function generateModel(dir, layers, { seed = 1234, std = 0.02, shardBytes = 600 * 2 ** 20, log = console.error } = {}) {
  const cfg = LLAMA7B;
  mkdirSync(dir, { recursive: true });
  const tensors = tensorList(layers, cfg);
  const numel = (s) => s.reduce((a, b) => a * b, 1);
  // Plan the shards.
  const shards = [[]];
  let cur = 0;
  for (const t of tensors) {
    const bytes = numel(t.shape) * 2;
    if (cur > 0 && cur + bytes > shardBytes) {
      shards.push([]);
      cur = 0;
    }
    shards[shards.length - 1].push(t);
    cur += bytes;
  }
  const K = shards.length;
  const pad5 = (i) => String(i).padStart(5, '0');
  const weightMap = {};
  let totalBytes = 0;
  const t0 = performance.now();
  shards.forEach((list, si) => {
    const file = `model-${pad5(si + 1)}-of-${pad5(K)}.safetensors`;
    const header = { __metadata__: { format: 'pt' } };
    let off = 0;
    for (const t of list) {
      const bytes = numel(t.shape) * 2;
      header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [off, off + bytes] };
      off += bytes;
      weightMap[t.name] = file;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8); // 8-byte aligned data, as safetensors writes it
    const fd = openSync(join(dir, file), 'w');
    try {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, len);
      writeSync(fd, Buffer.from(json, 'utf8'));
      for (const t of list) {
        const n = numel(t.shape);
        const data = t.ones ? new Uint16Array(n).fill(BF16_ONE) : normalBf16(n, std, hash32(`${seed}:${t.name}`));
        writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      }
    } finally {
      closeSync(fd);
    }
    totalBytes += off;
    log?.(`  ${file}: ${list.length} tensors, ${(off / 2 ** 30).toFixed(2)} GiB`);
  });
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
  const config = {
    architectures: ['LlamaForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_act: 'silu',
    initializer_range: 0.02,
    mlp_bias: false,
    model_type: 'llama',
    num_hidden_layers: layers,
    pretraining_tp: 1,
    rope_scaling: null,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.41.2',
    use_cache: true,
    ...cfg,
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ _from_model_config: true, bos_token_id: 1, eos_token_id: 2, transformers_version: '4.41.2' }, null, 2));
  // The fixture's tokenizer (2,048 tokens: the loader accepts a tokenizer smaller than vocab_size).
  const tokDir = join(fixtures, 'tinystories-656k');
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(tokDir, f), join(dir, f));
  const params = tensors.reduce((a, t) => a + numel(t.shape), 0);
  const matrixParams = layers * (4 * cfg.hidden_size ** 2 + 3 * cfg.hidden_size * cfg.intermediate_size);
  return { dir, layers, shards: K, bytes: totalBytes, params, matrixParams, seconds: (performance.now() - t0) / 1000 };
}

// ------------------------------------------------------------------ measuring the CLI

function readStatus(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return null;
  }
}

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Runs `node bitexit.js ...args` under /usr/bin/time -v (when present) with `nice -n 10`.
 * Returns stdout, the progress lines with their arrival time, peak RSS, wall
 * time and an RSS sample every second.
 */
async function runCli(args, { label, logFile } = {}) {
  const haveTime = existsSync('/usr/bin/time');
  const cmd = ['nice', '-n', '10', ...(haveTime ? ['/usr/bin/time', '-v'] : []), process.execPath, cli, ...args];
  const t0 = performance.now();
  const p = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let errBuf = '';
  const lines = [];
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => {
    const t = (performance.now() - t0) / 1000;
    errBuf += d;
    const parts = errBuf.split(/\r|\n/);
    errBuf = parts.pop();
    for (const l of parts) {
      if (!l.trim()) continue;
      lines.push({ t, line: l });
      if (logFile) appendFileSync(logFile, `${t.toFixed(1)}\t${l}\n`);
    }
  });
  const samples = [];
  let nodePid = null;
  const timer = setInterval(() => {
    if (nodePid === null) {
      // nice execs time, which forks node.
      const kids = childPids(p.pid);
      nodePid = haveTime ? (kids[0] ?? null) : p.pid;
      if (nodePid === null) return;
    }
    const s = readStatus(nodePid);
    if (s) samples.push({ t: Math.round((performance.now() - t0) / 100) / 10, rss_mib: Math.round(s.rss / 1024), hwm_mib: Math.round(s.hwm / 1024) });
  }, 1000);
  const code = await new Promise((res) => p.on('close', res));
  clearInterval(timer);
  if (errBuf.trim()) lines.push({ t: (performance.now() - t0) / 1000, line: errBuf });
  const wall = (performance.now() - t0) / 1000;
  const text = lines.map((l) => l.line).join('\n');
  const maxRssKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? NaN);
  const userS = Number(/User time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
  const sysS = Number(/System time \(seconds\): ([\d.]+)/.exec(text)?.[1] ?? NaN);
  const polledPeak = samples.reduce((a, s) => Math.max(a, s.hwm_mib || 0), 0);
  if (code !== 0) {
    console.error(`${label ?? 'bitexit'} exited with ${code}:\n${text.slice(-4000)}`);
  }
  return { code, stdout, lines, wall, peakRssMiB: Number.isFinite(maxRssKb) ? Math.round(maxRssKb / 1024) : polledPeak, userS, sysS, samples };
}

/**
 * Time per progress stage from the bar's lines ("quantize ░░ 12% | eta 5m | stage detail").
 * The bar reports the LAST COMPLETED unit of work (a layer run, a matrix), printed
 * once a second, so the time from one change of the shown unit to the next is
 * the work of the new unit: it is charged to the new unit's stage (±1 s).
 */
function stageTimes(lines) {
  const re = /^quantize .*?\| eta (\S+) \| (calibrate|analyse|allocate|quantize|write)\b ?(.*)$/;
  const stages = {};
  const perMatrix = {};
  const etas = [];
  const details = [];
  let prevT = 0;
  let prevDetail = null;
  for (const { t, line } of lines) {
    const m = re.exec(line.trim());
    if (!m) continue;
    etas.push({ t: Math.round(t), eta: m[1], pct: Number(/(\d+)%/.exec(line)?.[1] ?? NaN) });
    const d = `${m[2]} ${m[3]}`.trim();
    if (d === prevDetail) continue;
    const dt = t - prevT;
    const stage = category(prevDetail === null ? 'open' : m[2], m[3]);
    stages[stage] = (stages[stage] ?? 0) + dt;
    const mm = /^blk\.\d+\.(\w+)\.weight/.exec(m[3]);
    if (mm && (m[2] === 'analyse' || m[2] === 'quantize')) {
      const k = `${m[2]} ${mm[1]}`;
      perMatrix[k] = (perMatrix[k] ?? 0) + dt;
    }
    prevT = t;
    prevDetail = d;
    details.push({ t: Math.round(t * 10) / 10, detail: d });
  }
  return { stages, perMatrix, etas, details, lastT: prevT };
}

/**
 * Stage names of the report. The bar prints once a second, so a unit that ends within a
 * second of the next one is not seen: allocation (well under a second) is reported with
 * the error tables (the last matrix analysed usually shows up as 'allocate').
 */
function category(stage, detail) {
  if (stage === 'open') return 'open';
  if (stage === 'calibrate') {
    if (/activation statistics/.test(detail)) return 'pass1_layer_runs';
    if (/Hessians/.test(detail)) return 'pass2_layer_runs_hessians';
    if (/quantized outputs/.test(detail)) return 'pass2_layer_runs_quantized';
    return 'calibrate_other';
  }
  if (stage === 'analyse') return /sensitivity/.test(detail) ? 'sensitivity' : 'pass1_error_tables_allocate';
  if (stage === 'allocate') return 'pass1_error_tables_allocate';
  if (stage === 'quantize') return 'pass2_quantize';
  return stage;
}

function parseJsonLine(stdout) {
  const s = stdout.trim();
  try {
    return { ok: s.split('\n').length === 1, value: JSON.parse(s) };
  } catch {
    return { ok: false, value: null };
  }
}

async function measure(model, mode, o) {
  const out = join(o.work, `out-${model.layers}l-${mode}.gguf`);
  const gitRev = spawnSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  const args = ['quantize', model.dir, '-o', out, '--bits', String(o.bits), '--json', '--progress'];
  if (mode === 'gptq') args.push('--calib', o.calib, '--calib-tokens', String(o.calibTokens));
  if (o.refit !== undefined) args.push('--refit', String(o.refit));
  args.push(...o.cliArgs);
  console.error(`\n== ${model.layers} layer(s), ${mode}: bitexit ${args.join(' ')}`);
  const logFile = join(o.work, `progress-${model.layers}l-${mode}.log`);
  console.error(`   progress: ${logFile}`);
  const r = await runCli(args, { label: `quantize ${mode}`, logFile });
  const st = stageTimes(r.lines);
  // After the last unit ('write written'): the report, closing, process exit.
  st.stages.exit = Math.max(0, r.wall - st.lastT);
  const json = parseJsonLine(r.stdout);
  const result = {
    layers: model.layers,
    mode,
    calib_tokens: mode === 'gptq' ? o.calibTokens : 0,
    cli_args: o.cliArgs.join(' '),
    refit: o.refit ?? (mode === 'gptq' ? 2 : 0),
    code_version: o.codeVersion ?? gitRev,
    exit_code: r.code,
    wall_s: round(r.wall),
    user_s: r.userS,
    sys_s: r.sysS,
    peak_rss_mib: r.peakRssMiB,
    stage_s: Object.fromEntries(Object.entries(st.stages).map(([k, v]) => [k, round(v)])),
    per_matrix_s: Object.fromEntries(Object.entries(st.perMatrix).map(([k, v]) => [k, round(v)])),
    stdout_single_json_object: json.ok,
    progress_lines: st.etas.length,
    progress_sample: [...st.etas.slice(0, 3), ...st.etas.slice(-3)],
    // When each unit of work was done (layer runs, matrices): the time between two is the second one's work.
    stage_timeline: st.details,
    rss_timeline_mib: thin(r.samples, 60),
  };
  if (r.code !== 0) {
    result.error = r.lines.slice(-20).map((l) => l.line).join('\n');
    return result;
  }
  if (json.value) {
    const j = json.value;
    result.report = { bits_per_weight: j.bits_per_weight, width_fractions: j.width_fractions, seconds: round(j.seconds) };
    const bx = j.per_tensor.filter((t) => t.dtype === 'bx');
    result.report.bx_tensors = bx.length;
    result.report.per_kind_bits = {};
    for (const t of bx) {
      const k = t.name.replace(/^blk\.\d+\./, '');
      (result.report.per_kind_bits[k] ??= []).push(round(t.bits_per_weight, 3));
    }
    result.report.dense = j.per_tensor.filter((t) => t.dtype !== 'bx' && t.shape.length === 2).map((t) => ({ name: t.name, dtype: t.dtype, bits: round(t.bits_per_weight, 3) }));
  }
  // Does the file load?
  const ins = spawnSync(process.execPath, [cli, 'inspect', out, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  result.output_bytes = existsSync(out) ? statSync(out).size : 0;
  if (ins.status === 0) {
    const d = JSON.parse(ins.stdout);
    result.inspect = {
      ok: true,
      parameter_count: d.parameterCount,
      weight_bytes: d.weightBytes,
      bits_per_weight: round(d.bitsPerWeight, 4),
      layers: d.config?.nLayers,
      dim: d.config?.dim,
      ffn: d.config?.ffnDim,
      quant_bits_per_weight: d.metadata?.['bitexit.quant.bits_per_weight'],
    };
  } else result.inspect = { ok: false, error: (ins.stderr || ins.stdout).slice(-2000) };
  if (!o.keep) rmSync(out, { force: true });
  console.error(
    `   exit ${r.code}, wall ${result.wall_s} s, peak RSS ${result.peak_rss_mib} MiB, stages ${JSON.stringify(result.stage_s)}, bits ${JSON.stringify(result.report?.bits_per_weight)}, inspect ${result.inspect.ok}`,
  );
  return result;
}

const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
function thin(a, n) {
  if (a.length <= n) return a;
  const step = a.length / n;
  return Array.from({ length: n }, (_, i) => a[Math.floor(i * step)]).concat([a[a.length - 1]]);
}

// ------------------------------------------------------------------ report

function markdown(doc) {
  const L = [];
  L.push('# Scale test: synthetic 7B-shaped Llama (bench/scale.mjs)', '');
  L.push(`Machine: ${doc.machine.cpus} × ${doc.machine.cpu}, ${doc.machine.mem_gib} GiB RAM, Node ${doc.machine.node}, shared with other work (runs under nice 10).`, '');
  L.push(`Model: Llama-2-7B shapes (hidden ${doc.model.hidden_size}, intermediate ${doc.model.intermediate_size}, ${doc.model.num_attention_heads} heads / ${doc.model.num_key_value_heads} KV heads, vocab ${doc.model.vocab_size}, untied LM head), N layers, ${doc.model.dtype} safetensors in Hub-style shards, ${doc.model.init}; tokenizer ${doc.model.tokenizer}. 202,375,168 matrix weights per layer.`, '');
  if (doc.note) L.push(doc.note, '');
  L.push('| code | layers | mode | extra args | calib tokens | refit | wall s | peak RSS MiB | stages (s) | bits/w matrices | bits/w file | GGUF loads (inspect) |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of doc.runs) {
    const st = Object.entries(r.stage_s ?? {}).map(([k, v]) => `${k} ${v}`).join(', ');
    L.push(
      `| ${r.code_version ?? ''} | ${r.layers} | ${r.mode} | ${r.cli_args || ''} | ${r.calib_tokens} | ${r.refit} | ${r.wall_s} | ${r.peak_rss_mib} | ${st} | ${r.report?.bits_per_weight?.matrices?.toFixed(3) ?? '-'} | ${r.report?.bits_per_weight?.file?.toFixed(3) ?? '-'} | ${r.inspect?.ok ? 'yes' : r.error ? 'failed' : '-'} |`,
    );
  }
  L.push('', 'Seconds per matrix (time between the progress bar showing one unit done and the next; ±1 s):', '');
  for (const r of doc.runs) if (r.per_matrix_s && Object.keys(r.per_matrix_s).length) L.push(`- ${r.code_version} ${r.layers} layer(s) ${r.mode} ${r.cli_args || ''}: ${Object.entries(r.per_matrix_s).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (doc.extrapolation) {
    L.push('', '## Extrapolation to 32 layers (Llama-2-7B)', '');
    for (const line of doc.extrapolation) L.push(`- ${line}`);
  }
  if (doc.micro) {
    L.push('', '## Single-matrix timings (bench/scale-micro.mjs)', '');
    for (const [k, v] of Object.entries(doc.micro)) L.push(`- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return L.join('\n') + '\n';
}

function saveResults(runs) {
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, 'scale.json');
  const doc = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { runs: [] };
  const key = (r) => `${r.layers}:${r.mode}:${r.calib_tokens}:${r.refit}:${r.cli_args ?? ''}:${r.code_version ?? ''}`;
  const fresh = new Set(runs.map(key));
  doc.runs = [...doc.runs.filter((r) => !fresh.has(key(r))), ...runs].sort((a, b) => a.mode.localeCompare(b.mode) || a.layers - b.layers);
  doc.machine = { cpus: cpus().length, cpu: cpus()[0]?.model, mem_gib: Math.round(totalmem() / 2 ** 30), node: process.version };
  doc.model = { ...LLAMA7B, dtype: 'bf16', init: 'normal std 0.02, norms 1', tokenizer: 'fixtures/tinystories-656k (2,048 tokens)' };
  doc.note ??= '';
  writeFileSync(path, JSON.stringify(doc, null, 1) + '\n');
  writeFileSync(join(outDir, 'scale.md'), markdown(doc));
  console.error(`wrote ${path} and scale.md`);
}

// ------------------------------------------------------------------ main

async function main() {
  const layersList = String(opt('--layers', '2')).split(',').map(Number);
  if (sub === 'render') {
    // Rewrite scale.md from scale.json (after editing its notes by hand).
    const doc = JSON.parse(readFileSync(join(outDir, 'scale.json'), 'utf8'));
    writeFileSync(join(outDir, 'scale.md'), markdown(doc));
    return;
  }
  if (sub === 'generate') {
    const dir = opt('--dir', join(tmpdir(), `bitexit-7b-${layersList[0]}l`));
    const m = generateModel(dir, layersList[0]);
    console.log(JSON.stringify(m));
    return;
  }
  const modes = String(opt('--modes', 'rtn,gptq')).split(',');
  const o = {
    bits: Number(opt('--bits', '2.9')),
    calibTokens: Number(opt('--calib-tokens', '256')),
    // The CLI's default (2 rounds) costs hours per 7B layer on a CPU (see bench-results/scale.md): 0 unless asked.
    refit: Number(opt('--refit', '0')),
    cliArgs: String(opt('--cli-args', '')).split(' ').filter(Boolean),
    calib: join(fixtures, 'text/tinystories-dev.txt'),
    keep: flag('--keep'),
    codeVersion: opt('--code-version'),
    work: opt('--dir') ?? mkdtempSync(join(tmpdir(), 'bitexit-scale-')),
  };
  if (!existsSync(cli) || !existsSync(join(repo, 'packages/cli/dist/bin.js'))) {
    console.error('the CLI is not built: npx turbo run build --filter=@bitexit/cli...');
    process.exit(1);
  }
  const runs = [];
  try {
    for (const n of layersList) {
      const dir = join(o.work, `llama7b-${n}l`);
      console.error(`generating a ${n}-layer 7B-shaped checkpoint in ${dir}`);
      const m = existsSync(join(dir, 'config.json')) ? { dir, layers: n } : generateModel(dir, n);
      if (m.seconds !== undefined) console.error(`  ${(m.bytes / 2 ** 30).toFixed(2)} GiB, ${m.params} parameters (${m.matrixParams} in matrices) in ${m.seconds.toFixed(1)} s`);
      for (const mode of modes) {
        const r = await measure(m, mode, o);
        runs.push(r);
        if (!flag('--no-write')) saveResults([r]);
      }
      if (!o.keep) rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    if (!o.keep && opt('--dir') === undefined) rmSync(o.work, { recursive: true, force: true });
  }
  console.log(JSON.stringify(runs.map((r) => ({ layers: r.layers, mode: r.mode, wall_s: r.wall_s, peak_rss_mib: r.peak_rss_mib, stage_s: r.stage_s }))));
}

await main();
