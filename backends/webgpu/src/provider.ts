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
      return `the optional 'webgpu' package (Dawn for Node) could not be loaded (${(e as Error).message.split('\n')[0]}): run \`npm install webgpu\``;
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

/** The name of a CPU-emulated adapter (lavapipe/llvmpipe, SwiftShader, a fallback adapter), else null. */
export function softwareAdapter(adapter: GPUAdapter): string | null {
  const info = (adapter as { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
  const text = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ');
  const m = /llvmpipe|lavapipe|swiftshader/i.exec(text);
  if (m) return m[0];
  if (info?.isFallbackAdapter || (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter) return 'a fallback adapter';
  return null;
}

function describe(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const parts = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s && String(s).trim());
  return `WebGPU: ${parts.join(' ') || 'unknown adapter'}`;
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
      const found = await findAdapter({});
      if ('reason' in found) return { ok: false, reason: found.reason };
      const feats = ['shader-f16', 'subgroups'].filter((f) => found.adapter.features.has(f));
      const detail = `${describe(found.adapter)} (features: ${feats.join(', ') || 'none of shader-f16/subgroups'})`;
      const software = softwareAdapter(found.adapter);
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
