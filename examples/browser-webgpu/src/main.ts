/**
 * bitexit in the browser: pick a GGUF file or give a URL, watch it download
 * and upload to the GPU, type a prompt and watch the tokens stream.
 * Everything runs in this page: @bitexit/engine on @bitexit/backend-webgpu
 * (navigator.gpu). Only browser-safe entry points are used: the model is
 * opened from bytes in memory (MemoryByteSource + openGgufModel), never from
 * a path.
 */
import type { Backend } from '@bitexit/backend';
import { webgpuBackendProvider } from '@bitexit/backend-webgpu';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, openGgufModel, type Model } from '@bitexit/engine';
import { MemoryByteSource } from '@bitexit/format';
import { clearCache, fetchModel, listCached, readPickedFile } from './weights-cache.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  gpuStatus: $<HTMLParagraphElement>('gpu-status'),
  file: $<HTMLInputElement>('model-file'),
  url: $<HTMLInputElement>('model-url'),
  loadUrl: $<HTMLButtonElement>('load-url'),
  backend: $<HTMLSelectElement>('backend'),
  cacheInfo: $<HTMLSpanElement>('cache-info'),
  clearCache: $<HTMLButtonElement>('clear-cache'),
  progress: $<HTMLProgressElement>('progress'),
  progressLabel: $<HTMLDivElement>('progress-label'),
  modelInfo: $<HTMLDivElement>('model-info'),
  prompt: $<HTMLTextAreaElement>('prompt'),
  maxTokens: $<HTMLInputElement>('max-tokens'),
  temperature: $<HTMLInputElement>('temperature'),
  generate: $<HTMLButtonElement>('generate'),
  stop: $<HTMLButtonElement>('stop'),
  output: $<HTMLPreElement>('output'),
  tps: $<HTMLElement>('stats-tps'),
  bpw: $<HTMLElement>('stats-bpw'),
  layers: $<HTMLElement>('stats-layers'),
  status: $<HTMLElement>('status'),
};

let model: Model | null = null;
let backend: Backend | null = null;
let abort: AbortController | null = null;
let busy = false;

const mb = (n: number) => `${(n / 1048576).toFixed(n < 1048576 ? 2 : 1)} MB`;

function setStatus(text: string): void {
  ui.status.textContent = text;
  document.body.dataset.state = text;
}

function setProgress(fraction: number, label: string): void {
  ui.progress.value = Math.max(0, Math.min(1, fraction));
  ui.progressLabel.textContent = label;
}

function showError(where: HTMLElement, e: unknown): void {
  // bitexit's errors are typed (`code` E_...) with a plain-language message saying what to try.
  const err = e as { code?: string; message?: string };
  where.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
  where.className = 'error';
  setStatus('error');
  console.error(e);
}

function refreshButtons(): void {
  ui.generate.disabled = busy || !model;
  ui.stop.disabled = !abort;
  ui.loadUrl.disabled = busy;
  ui.file.disabled = busy;
  ui.clearCache.disabled = busy;
}

async function refreshCacheInfo(): Promise<void> {
  const entries = await listCached();
  ui.cacheInfo.replaceChildren();
  if (!entries.length) {
    ui.cacheInfo.textContent = 'No weights cached.';
    return;
  }
  const total = entries.reduce((a, e) => a + e.bytes, 0);
  ui.cacheInfo.append(`Cached (${mb(total)}): `);
  for (const e of entries) {
    const b = document.createElement('button');
    b.textContent = `${e.name.split('/').pop()} (${mb(e.bytes)})`;
    b.title = `load ${e.name} from the browser cache`;
    b.addEventListener('click', () => void loadFrom(e.name, (p) => fetchModel(e.url, p).then((f) => f.bytes)));
    ui.cacheInfo.append(b, ' ');
  }
}

/** WebGPU availability, said plainly at the top of the page. */
async function checkGpu(): Promise<void> {
  const a = await webgpuBackendProvider.probe();
  if (a.ok) {
    ui.gpuStatus.textContent = `WebGPU available: ${a.detail}`;
    ui.gpuStatus.className = 'note';
  } else {
    ui.gpuStatus.textContent =
      `WebGPU is not available in this browser: ${a.reason}\n` +
      'Try a current Chrome or Edge (or Firefox/Safari with WebGPU enabled), check that hardware acceleration is on, ' +
      'or pick the CPU backend below (slow, but works everywhere).';
    ui.gpuStatus.className = 'error';
    ui.backend.value = 'cpu';
  }
}

async function createBackend(): Promise<Backend> {
  if (ui.backend.value === 'cpu') return createCpuBackend();
  const a = await webgpuBackendProvider.probe();
  if (!a.ok) throw new Error(`WebGPU is not available: ${a.reason}`);
  return webgpuBackendProvider.create();
}

/** Gets the bytes (download or file read: first half of the bar), then uploads to the backend (second half). */
async function loadFrom(name: string, getBytes: (onProgress: (loaded: number, total: number) => void) => Promise<Uint8Array>): Promise<void> {
  if (busy) return;
  busy = true;
  refreshButtons();
  setStatus('loading');
  ui.modelInfo.className = 'note';
  ui.modelInfo.textContent = '';
  const t0 = performance.now();
  try {
    await model?.dispose();
    await backend?.dispose();
    model = null;
    backend = null;
    setProgress(0, `Reading ${name}…`);
    const bytes = await getBytes((loaded, total) =>
      setProgress(total ? (0.5 * loaded) / total : 0, `Downloading ${name}: ${mb(loaded)}${total ? ` of ${mb(total)}` : ''}`),
    );
    setProgress(0.5, `Parsing ${name} (${mb(bytes.byteLength)})…`);
    const source = await openGgufModel(new MemoryByteSource(name, bytes), { path: name });
    backend = await createBackend();
    model = await loadModel(source, {
      backend,
      onProgress: (p) => {
        if (p.phase === 'upload' && p.totalBytes) {
          setProgress(0.5 + (0.5 * p.loadedBytes) / p.totalBytes, `Uploading weights to ${backend!.capabilities.name}: ${mb(p.loadedBytes)} of ${mb(p.totalBytes)}`);
        } else if (p.phase === 'compile') setProgress(1, 'Compiling the step programs…');
      },
    });
    const { info } = model;
    setProgress(1, `Ready: ${name} loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
    ui.modelInfo.textContent =
      `${info.config.architecture}, ${info.parameterCount.toLocaleString()} parameters, ${info.config.nLayers} layers, ` +
      `context ${info.contextLength}, backend ${info.backend}`;
    ui.bpw.textContent = info.bitsPerWeight.toFixed(2);
    ui.layers.textContent = '–';
    setStatus('ready');
  } catch (e) {
    setProgress(0, 'Loading failed.');
    showError(ui.modelInfo, e);
    await backend?.dispose().catch(() => undefined);
    backend = null;
  } finally {
    busy = false;
    refreshButtons();
    void refreshCacheInfo();
  }
}

async function generate(): Promise<void> {
  if (!model || busy) return;
  busy = true;
  abort = new AbortController();
  refreshButtons();
  setStatus('generating');
  ui.output.className = '';
  ui.output.textContent = ui.prompt.value;
  ui.tps.textContent = '–';
  const nLayers = model.config.nLayers;
  try {
    const generation = model.generate(ui.prompt.value, {
      maxTokens: Number(ui.maxTokens.value) || 128,
      temperature: Number(ui.temperature.value),
      signal: abort.signal,
    });
    let first = 0;
    let count = 0;
    for await (const chunk of generation) {
      ui.output.textContent += chunk.text;
      count++;
      if (count === 1) first = performance.now();
      else ui.tps.textContent = ((count - 1) / ((performance.now() - first) / 1000)).toFixed(1);
    }
    const { stats } = await generation.result;
    ui.tps.textContent = `${stats.decodeTokensPerSecond.toFixed(1)} (prefill ${stats.prefillTokensPerSecond.toFixed(0)}, first token after ${stats.timeToFirstTokenMs.toFixed(0)} ms)`;
    // The engine reports layers per token when the decode ran with SpecEE early exit
    // (read structurally: the field is newer than this page).
    const exit = (stats as { earlyExit?: { layersPerToken: number; steps: number } }).earlyExit;
    ui.layers.textContent = exit
      ? `${exit.layersPerToken.toFixed(2)} of ${nLayers} (mean over ${exit.steps} decode steps, early exit)`
      : `${nLayers} of ${nLayers} (no early exit for this model)`;
    setStatus(`done (${stats.finishReason})`);
  } catch (e) {
    showError(ui.output, e);
  } finally {
    busy = false;
    abort = null;
    refreshButtons();
  }
}

ui.file.addEventListener('change', () => {
  const f = ui.file.files?.[0];
  if (f) void loadFrom(f.name, (p) => readPickedFile(f, p));
});
ui.loadUrl.addEventListener('click', () => {
  const url = ui.url.value.trim();
  if (url) void loadFrom(url.split('/').pop() || url, (p) => fetchModel(url, p).then((f) => f.bytes));
});
ui.generate.addEventListener('click', () => void generate());
ui.stop.addEventListener('click', () => abort?.abort());
ui.clearCache.addEventListener('click', () => void clearCache().then(refreshCacheInfo));

setStatus('idle');
refreshButtons();
void refreshCacheInfo();
void checkGpu();
