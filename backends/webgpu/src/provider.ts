/**
 * The WebGPU provider: finds a GPU object (an explicit one, navigator.gpu in
 * browsers, or the optional `webgpu` package (Dawn) in Node), an adapter and a
 * device, picks the code paths from the adapter's features, requests the
 * adapter's limits, and refuses a device that fails a numerics self-check.
 */
import {
  BACKEND_SPECIFICATION_VERSION,
  BackendUnavailableError,
  registerBackend,
  registeredBackends,
  type Availability,
  type Backend,
  type BackendProvider,
} from '@bitexit/backend';
import { WEBGPU_BACKEND_NAME, WebGpuBackend } from './backend.js';

export type WebGpuFeatureName = 'shader-f16' | 'subgroups';

export interface WebGpuBackendOptions {
  /** A GPU object to use (default: navigator.gpu, else the `webgpu` package in Node). */
  gpu?: GPU;
  powerPreference?: GPUPowerPreference;
  /** Features not to use even when the adapter has them (forces the fallback code paths). */
  disableFeatures?: WebGpuFeatureName[];
  /** Lowers the per-binding byte limit (tests of weight splitting); never raises it above the device's. */
  maxStorageBindingBytes?: number;
  /** Skip the numerics self-check at creation (not recommended). */
  skipSelfCheck?: boolean;
}

let nodeGpu: Promise<GPU | string> | null = null;

/** The `webgpu` package's GPU object, created once per process; a string says why there is none. */
function dawnGpu(): Promise<GPU | string> {
  nodeGpu ??= (async () => {
    const name = 'webgpu'; // a variable, so bundlers for the browser leave the optional import alone
    try {
      const mod = (await import(/* @vite-ignore */ name)) as { create(flags: string[]): GPU };
      return mod.create([]);
    } catch (e) {
      return webgpuPackageMissing(e);
    }
  })();
  return nodeGpu;
}

async function findGpu(explicit?: GPU): Promise<GPU | string> {
  if (explicit) return explicit;
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (proc?.versions?.node) return dawnGpu();
  return 'this JavaScript environment has no WebGPU (navigator.gpu is missing): use a browser with WebGPU enabled (Chrome/Edge 113+, or a flag in Firefox/Safari)';
}

function noAdapterReason(): string {
  const proc = (globalThis as { process?: { platform?: string; versions?: { node?: string } } }).process;
  if (proc?.versions?.node && proc.platform === 'linux') {
    return 'no WebGPU adapter found: Dawn needs a Vulkan driver; install mesa-vulkan-drivers (lavapipe, CPU) or your GPU vendor\'s Vulkan driver and the Vulkan loader (libvulkan1)';
  }
  return 'no WebGPU adapter found (the browser or driver blocks WebGPU on this GPU, or there is no GPU)';
}

async function findAdapter(options: WebGpuBackendOptions): Promise<{ adapter: GPUAdapter } | { reason: string }> {
  const gpu = await findGpu(options.gpu);
  if (typeof gpu === 'string') return { reason: gpu };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
  } catch (e) {
    return { reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) return { reason: noAdapterReason() };
  return { adapter };
}

/** What a probe needs to know about an adapter (plain data: it also crosses a process boundary). */
export interface AdapterSummary {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

function summarise(adapter: GPUAdapter): AdapterSummary {
  const info = (adapter as { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  return {
    vendor: info?.vendor,
    architecture: info?.architecture,
    device: info?.device,
    description: info?.description,
    isFallbackAdapter: info?.isFallbackAdapter || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter || false,
  };
}

/** The name of a CPU-emulated adapter (lavapipe/llvmpipe, SwiftShader, a fallback adapter), else null. */
export function softwareAdapterInfo(info: AdapterSummary): string | null {
  const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  const m = /llvmpipe|lavapipe|swiftshader/i.exec(text);
  if (m) return m[0];
  if (info.isFallbackAdapter) return 'a fallback adapter';
  return null;
}

/** The name of a CPU-emulated adapter (lavapipe/llvmpipe, SwiftShader, a fallback adapter), else null. */
export function softwareAdapter(adapter: GPUAdapter): string | null {
  return softwareAdapterInfo(summarise(adapter));
}

function describeInfo(info: AdapterSummary): string {
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && String(s).trim());
  return `WebGPU: ${parts.join(' ') || 'unknown adapter'}`;
}

function describe(adapter: GPUAdapter): string {
  return describeInfo(summarise(adapter));
}

type ProbeResult = { info: AdapterSummary; features: string[] } | { reason: string };

/**
 * Node without navigator.gpu: Dawn writes warnings straight to the process's
 * stderr when it enumerates adapters (lavapipe's "maxDynamicUniformBuffers…
 * artificially reduced", "Couldn't load Vulkan"), which a user of the CPU
 * backend should never see. So the probe asks Dawn in a short-lived child
 * process whose stderr is captured; Dawn is loaded into this process only when
 * a WebGPU device is actually created.
 */
const CHILD_PROBE = `
const [url, pp] = process.argv.slice(-2);
const out = (o) => { process.stdout.write(JSON.stringify(o)); process.exit(0); };
let gpu;
try { gpu = (await import(url)).create([]); } catch (e) { out({ load: String(e && e.message || e).split('\\n')[0] }); }
try {
  const a = await gpu.requestAdapter(pp ? { powerPreference: pp } : undefined);
  if (!a) out({ adapter: null });
  const i = a.info || {};
  out({ info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description, isFallbackAdapter: !!(i.isFallbackAdapter || a.isFallbackAdapter) }, features: [...a.features] });
} catch (e) { out({ error: String(e && e.message || e) }); }
`;

const CHILD_PROBE_TIMEOUT_MS = 30_000;

let childProbe: Promise<ProbeResult> | null = null;

/** Runs CHILD_PROBE once per process (the answer does not change while it runs). */
function probeInChildProcess(): Promise<ProbeResult> {
  childProbe ??= (async (): Promise<ProbeResult> => {
    // Variables, so bundlers for the browser leave these Node-only imports alone.
    const cp = 'node:child_process';
    const mod = 'node:module';
    const urlMod = 'node:url';
    const { execFile } = (await import(/* @vite-ignore */ cp)) as typeof import('node:child_process');
    const { createRequire } = (await import(/* @vite-ignore */ mod)) as typeof import('node:module');
    const { pathToFileURL } = (await import(/* @vite-ignore */ urlMod)) as typeof import('node:url');
    let entry: string;
    try {
      entry = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
    } catch (e) {
      return { reason: webgpuPackageMissing(e) };
    }
    const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: Error | null }>((resolve) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', CHILD_PROBE, entry, ''],
        { timeout: CHILD_PROBE_TIMEOUT_MS, windowsHide: true, maxBuffer: 1 << 20 },
        (err, out, errOut) => resolve({ stdout: String(out), stderr: String(errOut), error: err }),
      );
    });
    let answer: { load?: string; adapter?: null; error?: string; info?: AdapterSummary; features?: string[] };
    try {
      answer = JSON.parse(stdout) as typeof answer;
    } catch {
      const why = error ? error.message.split('\n')[0] : 'no answer';
      const said = stderr.trim().split('\n').slice(-1)[0];
      return { reason: `the WebGPU probe process failed (${why})${said ? `: ${said}` : ''}` };
    }
    if (answer.load !== undefined) return { reason: webgpuPackageMissing(new Error(answer.load)) };
    if (answer.error !== undefined) return { reason: `requestAdapter failed: ${answer.error}` };
    if (!answer.info) return { reason: noAdapterReason() };
    return { info: answer.info, features: answer.features ?? [] };
  })();
  return childProbe;
}

function webgpuPackageMissing(e: unknown): string {
  return `the optional 'webgpu' package (Dawn for Node) could not be loaded (${(e as Error).message.split('\n')[0]}): run \`npm install webgpu\``;
}

/** The adapter the provider would use, without creating a device (and, in Node, without loading Dawn here). */
async function probeAdapter(): Promise<ProbeResult> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (!nav?.gpu && proc?.versions?.node && !nodeGpu) return probeInChildProcess();
  const found = await findAdapter({});
  if ('reason' in found) return found;
  return { info: summarise(found.adapter), features: [...found.adapter.features] };
}

const LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupsPerDimension',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
] as const;

/** Creates a WebGPU backend (throws BackendUnavailableError with a plain reason when it cannot). */
export async function createWebGpuBackend(options: WebGpuBackendOptions = {}): Promise<Backend> {
  const found = await findAdapter(options);
  if ('reason' in found) throw new BackendUnavailableError(WEBGPU_BACKEND_NAME, found.reason);
  const { adapter } = found;
  const off = new Set(options.disableFeatures ?? []);
  const f16 = adapter.features.has('shader-f16') && !off.has('shader-f16');
  const subgroups = adapter.features.has('subgroups') && !off.has('subgroups');
  const requiredFeatures: GPUFeatureName[] = [];
  if (f16) requiredFeatures.push('shader-f16');
  if (subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  const requiredLimits: Record<string, number> = {};
  for (const k of LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number>)[k];
    if (typeof v === 'number') requiredLimits[k] = v;
  }
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'bitexit' });
  } catch (e) {
    throw new BackendUnavailableError(WEBGPU_BACKEND_NAME, `requestDevice failed: ${(e as Error).message}`);
  }
  const limit = device.limits.maxStorageBufferBindingSize;
  const backend = new WebGpuBackend({
    device,
    description: describe(adapter),
    features: { f16, subgroups },
    maxBindingBytes: Math.min(limit, options.maxStorageBindingBytes ?? limit),
    maxBufferBytes: Math.min(limit, device.limits.maxBufferSize),
  });
  if (!options.skipSelfCheck) {
    const problem = await selfCheck(backend).catch((e: Error) => `self-check failed to run: ${e.message}`);
    if (problem) {
      await backend.dispose();
      throw new BackendUnavailableError(WEBGPU_BACKEND_NAME, `the device computes wrong results (${problem}); refusing it rather than producing garbage`);
    }
  }
  return backend;
}

/** A small f32 and f16 matrix product, one row and three rows, compared with the host: returns a problem or null. */
export async function selfCheck(backend: Backend): Promise<string | null> {
  const N = 5;
  const Kd = 40;
  const w = new Float32Array(N * Kd).map((_, i) => ((i * 7919) % 13) / 8 - 0.75);
  const x = new Float32Array(3 * Kd).map((_, i) => ((i * 104729) % 11) / 4 - 1.25);
  const half = new Uint16Array(w.length);
  const f16 = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    // Every value above is a multiple of 1/8 in [-0.75, 0.75]: exact in f16.
    const v = w[i];
    const s = v < 0 ? 0x8000 : 0;
    const a = Math.abs(v);
    if (a === 0) half[i] = s;
    else {
      const e = Math.floor(Math.log2(a));
      half[i] = s | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
    }
    f16[i] = v;
  }
  const weights = [
    await backend.uploadWeight({ name: 'selfcheck-f32', dtype: 'f32', shape: [N, Kd], data: new Uint8Array(w.buffer) }),
    await backend.uploadWeight({ name: 'selfcheck-f16', dtype: 'f16', shape: [N, Kd], data: new Uint8Array(half.buffer) }),
  ];
  const xb = backend.createBuffer('f32', [3, Kd], 'selfcheck-x');
  const ob = backend.createBuffer('f32', [3, N], 'selfcheck-out');
  try {
    backend.writeBuffer(xb, x);
    for (const weight of weights) {
      const p = backend.compile({ label: 'selfcheck', maxRows: 3, ops: [{ kind: 'matmul', x: xb, weight, out: ob }], outputs: [{ buffer: ob, rows: 'active' }] });
      try {
        for (const n of [1, 3]) {
          const [got] = await backend.run(p, { pos: 0, n });
          for (let t = 0; t < n; t++) {
            for (let r = 0; r < N; r++) {
              let want = 0;
              for (let k = 0; k < Kd; k++) want += f16[r * Kd + k] * x[t * Kd + k];
              const g = got[t * N + r];
              if (!(Math.abs(g - want) <= 1e-4 * (1 + Math.abs(want)))) return `${weight.dtype} matmul row ${r} token ${t}: got ${g}, expected ${want}`;
            }
          }
        }
      } finally {
        backend.release(p);
      }
    }
    return null;
  } finally {
    backend.release(xb);
    backend.release(ob);
    for (const wt of weights) backend.release(wt);
  }
}

export const webgpuBackendProvider: BackendProvider = {
  specificationVersion: BACKEND_SPECIFICATION_VERSION,
  name: WEBGPU_BACKEND_NAME,
  priority: 10,
  description: 'WebGPU backend (WGSL kernels; f32/f16/bf16/q8_0/bx weights) for browsers (navigator.gpu) and Node (the `webgpu` package).',
  async probe(): Promise<Availability> {
    try {
      const found = await probeAdapter();
      if ('reason' in found) return { ok: false, reason: found.reason };
      const feats = ['shader-f16', 'subgroups'].filter((f) => found.features.includes(f));
      const detail = `${describeInfo(found.info)} (features: ${feats.join(', ') || 'none of shader-f16/subgroups'})`;
      const software = softwareAdapterInfo(found.info);
      return software
        ? { ok: true, detail, notForAuto: `${software} is a software adapter (the GPU is emulated on the CPU, slower than the CPU backend); select it explicitly with --backend webgpu` }
        : { ok: true, detail };
    } catch (e) {
      return { ok: false, reason: `probe failed: ${(e as Error).message}` };
    }
  },
  async create(options?: Record<string, unknown>): Promise<Backend> {
    return createWebGpuBackend((options ?? {}) as WebGpuBackendOptions);
  },
};

/** Registers the WebGPU provider with @bitexit/backend's registry (idempotent). */
export function registerWebGpuBackend(): void {
  if (registeredBackends().some((p) => p === webgpuBackendProvider)) return;
  registerBackend(webgpuBackendProvider);
}
