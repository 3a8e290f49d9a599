/**
 * The model runs here, in a dedicated Web Worker, so loading and generating
 * never block the page. The page sends the model's bytes (and its exits file
 * when one sits beside it) and prompts; this worker answers with progress,
 * text chunks and statistics (src/protocol.ts).
 */
import { createBackend, type Backend } from '@bitexit/backend';
import { registerCpuBackend } from '@bitexit/backend-cpu';
import { registerWebGpuBackend } from '@bitexit/backend-webgpu';
import { loadModel, openGgufModel, type Model, type ModelSource } from '@bitexit/engine';
import { MemoryByteSource, readGguf } from '@bitexit/format';
import {
  createEarlyExit,
  eagleTargetFromSource,
  exitsFromGguf,
  hasEagleHead,
  loadEagleGguf,
  readExitsFile,
  type Drafter,
  type ExitsSpec,
} from '@bitexit/specee';
import type { FromWorker, LoadedInfo, ToWorker } from './protocol.js';

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);

let model: Model | null = null;
let backend: Backend | null = null;
let abort: AbortController | null = null;

// The same registry and `auto` rule as in Node: the highest-priority backend that can run,
// passing over software WebGPU adapters (SwiftShader) that are slower than the CPU backend.
registerCpuBackend();
registerWebGpuBackend();

/**
 * The exits to decode with: the side file when the page found one, else
 * `bitexit.specee.*` keys inside the model GGUF (what `bitexit run
 * --early-exit` looks for, in the same order), with the drafter they name.
 */
async function findEarlyExit(name: string, bytes: Uint8Array, exits: Uint8Array | null, source: ModelSource): Promise<{ spec: ExitsSpec; from: string; drafter: Drafter } | null> {
  const gguf = await readGguf(new MemoryByteSource(name, bytes));
  let spec: ExitsSpec;
  let from: string;
  if (exits) {
    spec = await readExitsFile(new MemoryByteSource(`${name} exits`, exits));
    from = name.replace(/\.gguf$/, '.exits.gguf');
  } else if (gguf.getNumber('bitexit.specee.version') !== undefined) {
    spec = await exitsFromGguf(gguf, name);
    from = name;
  } else {
    return null;
  }
  if (spec.drafter === 'eagle') {
    if (!hasEagleHead(gguf)) throw new Error(`${name}: the exit predictors use the EAGLE head, but the model carries none`);
    return { spec, from, drafter: await loadEagleGguf(gguf, await eagleTargetFromSource(source), name) };
  }
  if (spec.drafter === 'ngram' && spec.ngram) return { spec, from, drafter: spec.ngram };
  throw new Error(`${name}: the exit predictors need the drafter '${spec.drafter}', which this page cannot open`);
}

async function load(m: Extract<ToWorker, { type: 'load' }>): Promise<void> {
  await model?.dispose();
  await backend?.dispose();
  model = null;
  backend = null;
  const source = await openGgufModel(new MemoryByteSource(m.name, m.bytes), { path: m.name });
  const created = await createBackend(m.backend);
  backend = created.backend;
  model = await loadModel(source, {
    backend,
    onProgress: (p) => post({ type: 'progress', phase: p.phase, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes }),
  });
  const exit = await findEarlyExit(m.name, m.bytes, m.exits, source);
  if (exit) await model.enableEarlyExit(createEarlyExit(exit.spec, exit.drafter));
  const { info } = model;
  const loaded: LoadedInfo = {
    architecture: info.config.architecture,
    parameterCount: info.parameterCount,
    nLayers: info.config.nLayers,
    contextLength: info.contextLength,
    backend: info.backend,
    bitsPerWeight: info.bitsPerWeight,
    skipped: created.skipped,
    earlyExit: exit ? { from: exit.from, drafter: exit.spec.drafter, threshold: exit.spec.threshold, layers: exit.spec.predictors.size } : null,
  };
  post({ type: 'ready', info: loaded });
}

async function generate(m: Extract<ToWorker, { type: 'generate' }>): Promise<void> {
  if (!model) throw new Error('no model is loaded');
  abort = new AbortController();
  try {
    const generation = model.generate(m.prompt, { maxTokens: m.maxTokens, temperature: m.temperature, signal: abort.signal, earlyExit: m.earlyExit });
    for await (const chunk of generation) post({ type: 'chunk', text: chunk.text });
    const { stats } = await generation.result;
    post({
      type: 'done',
      stats: {
        finishReason: stats.finishReason,
        decodeTokensPerSecond: stats.decodeTokensPerSecond,
        prefillTokensPerSecond: stats.prefillTokensPerSecond,
        timeToFirstTokenMs: stats.timeToFirstTokenMs,
        earlyExit: stats.earlyExit ? { layersPerToken: stats.earlyExit.layersPerToken, steps: stats.earlyExit.steps } : null,
      },
    });
  } finally {
    abort = null;
  }
}

self.addEventListener('message', (event: MessageEvent<ToWorker>) => {
  const m = event.data;
  if (m.type === 'stop') {
    abort?.abort();
    return;
  }
  const during = m.type === 'load' ? 'load' : 'generate';
  // bitexit's errors are typed (`code` E_...) with a plain-language message saying what to try.
  (m.type === 'load' ? load(m) : generate(m)).catch((e: unknown) => {
    const err = e as { code?: string; message?: string };
    console.error(e);
    post({ type: 'error', during, code: typeof err.code === 'string' ? err.code : null, message: String(err.message ?? e) });
  });
});
