/**
 * bitexit in the browser: the embedded demo model by default, or pick a GGUF
 * file or give a URL; watch it download and upload, type a prompt and watch
 * the tokens stream. The model runs in a Web Worker (src/worker.ts) so the
 * page never freezes; this file is the page: bytes (download + Cache API),
 * the form, and what the worker reports.
 */
import { webgpuBackendProvider } from '@bitexit/backend-webgpu';
import type { BackendChoice, FromWorker, LoadedInfo, ToWorker } from './protocol.js';
import { clearCache, fetchModel, listCached, readPickedFile } from './weights-cache.js';

/** Served by the example's dev server (and copied into the build) from @bitexit/model-demo. */
const DEMO_MODEL_URL = '/models/bitexit-demo.gguf';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  gpuStatus: $<HTMLParagraphElement>('gpu-status'),
  file: $<HTMLInputElement>('model-file'),
  url: $<HTMLInputElement>('model-url'),
  loadUrl: $<HTMLButtonElement>('load-url'),
  loadDemo: $<HTMLButtonElement>('load-demo'),
  earlyExit: $<HTMLInputElement>('early-exit'),
  earlyExitInfo: $<HTMLSpanElement>('early-exit-info'),
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

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);
/** The handler of the operation in flight (one at a time): load or generate. */
let pending: ((m: FromWorker) => void) | null = null;
worker.addEventListener('message', (e: MessageEvent<FromWorker>) => pending?.(e.data));
worker.addEventListener('error', (e) => pending?.({ type: 'error', during: 'load', code: null, message: `the model worker failed: ${e.message}` }));

let loaded: LoadedInfo | null = null;
let generating = false;
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
  const err = e as { code?: string | null; message?: string };
  where.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message ?? e);
  where.className = 'error';
  setStatus('error');
  console.error(e);
}

function refreshButtons(): void {
  ui.generate.disabled = busy || !loaded;
  ui.stop.disabled = !generating;
  ui.loadUrl.disabled = busy;
  ui.loadDemo.disabled = busy;
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
    b.addEventListener('click', () => loadUrl(e.url));
    ui.cacheInfo.append(b, ' ');
  }
}

/** WebGPU availability, said plainly at the top of the page. */
async function checkGpu(): Promise<void> {
  const a = await webgpuBackendProvider.probe();
  if (a.ok) {
    ui.gpuStatus.textContent = a.notForAuto
      ? `WebGPU available: ${a.detail}. Auto uses the CPU backend: ${a.notForAuto.replace(/ with --backend webgpu$/, ' in the menu below')}.`
      : `WebGPU available: ${a.detail}`;
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

/** Runs one worker operation to its end ('ready', 'done' or 'error'), passing the other messages to `onMessage`. */
function run<T extends FromWorker['type']>(m: ToWorker, transfer: Transferable[], onMessage: (m: FromWorker) => void): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    pending = (r) => {
      if (r.type === 'error') {
        pending = null;
        reject(Object.assign(new Error(r.message), { code: r.code }));
      } else if (r.type === 'ready' || r.type === 'done') {
        pending = null;
        resolve(r as Extract<FromWorker, { type: T }>);
      } else onMessage(r);
    };
    send(m, transfer);
  });
}

/** The SpecEE exits file beside a model URL (MODEL.exits.gguf, the name `bitexit train-exits` writes), or null. */
async function fetchExitsBeside(url: string): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!/\.gguf$/.test(url)) return null;
  const response = await fetch(new URL(url.replace(/\.gguf$/, '.exits.gguf'), location.href)).catch(() => null);
  return response?.ok ? new Uint8Array(await response.arrayBuffer()) : null;
}

/** Gets the bytes (download or file read: first half of the bar), then the worker uploads them (second half). */
async function loadFrom(
  name: string,
  getBytes: (onProgress: (loaded: number, total: number) => void) => Promise<Uint8Array<ArrayBuffer>>,
  getExits: () => Promise<Uint8Array<ArrayBuffer> | null> = async () => null,
): Promise<void> {
  if (busy) return;
  busy = true;
  loaded = null;
  refreshButtons();
  setStatus('loading');
  ui.modelInfo.className = 'note';
  ui.modelInfo.textContent = '';
  ui.earlyExitInfo.textContent = '';
  ui.earlyExit.checked = false;
  ui.earlyExit.disabled = true;
  const t0 = performance.now();
  try {
    setProgress(0, `Reading ${name}…`);
    const bytes = await getBytes((done, total) =>
      setProgress(total ? (0.5 * done) / total : 0, `Downloading ${name}: ${mb(done)}${total ? ` of ${mb(total)}` : ''}`),
    );
    const exits = await getExits();
    setProgress(0.5, `Parsing ${name} (${mb(bytes.byteLength)})…`);
    const transfer: Transferable[] = [bytes.buffer, ...(exits ? [exits.buffer] : [])];
    const { info } = await run<'ready'>({ type: 'load', name, bytes, exits, backend: ui.backend.value as BackendChoice }, transfer, (p) => {
      if (p.type !== 'progress') return;
      if (p.phase === 'upload' && p.totalBytes) {
        setProgress(0.5 + (0.5 * p.loadedBytes) / p.totalBytes, `Uploading weights: ${mb(p.loadedBytes)} of ${mb(p.totalBytes)}`);
      } else if (p.phase === 'compile') setProgress(1, 'Compiling the step programs…');
    });
    loaded = info;
    setProgress(1, `Ready: ${name} loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s.`);
    const passed = info.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
    ui.modelInfo.textContent =
      `${info.architecture}, ${info.parameterCount.toLocaleString()} parameters, ${info.nLayers} layers, ` +
      `context ${info.contextLength}, backend ${info.backend}${passed ? ` (auto passed over ${passed})` : ''}`;
    ui.bpw.textContent = info.bitsPerWeight.toFixed(2);
    ui.layers.textContent = '–';
    if (info.earlyExit) {
      ui.earlyExit.disabled = false;
      ui.earlyExit.checked = true;
      ui.earlyExitInfo.textContent = `early exit available: predictors for ${info.earlyExit.layers} layers from ${info.earlyExit.from}, ${info.earlyExit.drafter} drafter, threshold ${Number(info.earlyExit.threshold.toPrecision(3))}`;
    } else {
      ui.earlyExitInfo.textContent = 'no early exit for this model (no MODEL.exits.gguf beside it and no predictors inside it)';
    }
    setStatus('ready');
  } catch (e) {
    setProgress(0, 'Loading failed.');
    showError(ui.modelInfo, e);
  } finally {
    busy = false;
    refreshButtons();
    void refreshCacheInfo();
  }
}

async function generate(): Promise<void> {
  if (!loaded || busy) return;
  busy = true;
  generating = true;
  refreshButtons();
  setStatus('generating');
  ui.output.className = '';
  ui.output.textContent = ui.prompt.value;
  ui.tps.textContent = '–';
  const nLayers = loaded.nLayers;
  try {
    let first = 0;
    let count = 0;
    const { stats } = await run<'done'>(
      {
        type: 'generate',
        prompt: ui.prompt.value,
        maxTokens: Number(ui.maxTokens.value) || 128,
        temperature: Number(ui.temperature.value),
        earlyExit: ui.earlyExit.checked,
      },
      [],
      (m) => {
        if (m.type !== 'chunk') return;
        ui.output.textContent += m.text;
        count++;
        if (count === 1) first = performance.now();
        else ui.tps.textContent = ((count - 1) / ((performance.now() - first) / 1000)).toFixed(1);
      },
    );
    ui.tps.textContent = `${stats.decodeTokensPerSecond.toFixed(1)} (prefill ${stats.prefillTokensPerSecond.toFixed(0)}, first token after ${stats.timeToFirstTokenMs.toFixed(0)} ms)`;
    const exit = stats.earlyExit;
    ui.layers.textContent = exit
      ? `${exit.layersPerToken.toFixed(2)} of ${nLayers} (mean over ${exit.steps} decode steps, early exit)`
      : `${nLayers} of ${nLayers} (${loaded.earlyExit ? 'early exit off' : 'no early exit for this model'})`;
    setStatus(`done (${stats.finishReason})`);
  } catch (e) {
    showError(ui.output, e);
  } finally {
    busy = false;
    generating = false;
    refreshButtons();
  }
}

function loadUrl(url: string): void {
  void loadFrom(
    url.split('/').pop() || url,
    (p) => fetchModel(url, p).then((f) => f.bytes),
    () => fetchExitsBeside(url),
  );
}

ui.file.addEventListener('change', () => {
  const f = ui.file.files?.[0];
  if (f) void loadFrom(f.name, (p) => readPickedFile(f, p));
});
ui.loadUrl.addEventListener('click', () => {
  const url = ui.url.value.trim();
  if (url) loadUrl(url);
});
ui.loadDemo.addEventListener('click', () => loadUrl(DEMO_MODEL_URL));
ui.generate.addEventListener('click', () => void generate());
ui.stop.addEventListener('click', () => send({ type: 'stop' }));
ui.clearCache.addEventListener('click', () => void clearCache().then(refreshCacheInfo));

setStatus('idle');
refreshButtons();
void refreshCacheInfo();
void checkGpu();
