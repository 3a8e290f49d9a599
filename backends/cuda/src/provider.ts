/**
 * The CUDA backend's provider. probe() never throws and says in plain words
 * why CUDA cannot run here: built without nvcc, addon failed to load, no
 * driver, driver too old, no device, GPU too old.
 */
import {
  BACKEND_SPECIFICATION_VERSION,
  BackendUnavailableError,
  registerBackend,
  registeredBackends,
  type Availability,
  type Backend,
  type BackendCreateOptions,
  type BackendProvider,
} from '@bitexit/backend';
import { CUDA_BACKEND_NAME, CudaBackend, mapCudaError } from './backend.js';
import { loadNative, type NativeLoad } from './native.js';

/** Above webgpu (10) and cpu (0): on a machine with an NVIDIA GPU, `auto` picks CUDA. */
export const CUDA_PRIORITY = 100;

export async function probeCuda(): Promise<Availability> {
  return probeLoaded(loadNative());
}

async function probeLoaded(load: NativeLoad): Promise<Availability> {
  if (!load.ok) return { ok: false, reason: load.reason };
  try {
    const p = load.addon.probe();
    return p.ok ? { ok: true, detail: p.detail } : { ok: false, reason: p.reason };
  } catch (e) {
    return { ok: false, reason: `probe failed: ${(e as Error).message}` };
  }
}

export interface CudaBackendOptions extends BackendCreateOptions {
  /** CUDA device ordinal (default 0). */
  device?: number;
}

/** A new CUDA backend on device `options.device` (default 0); throws BackendUnavailableError with the reason when CUDA cannot run. */
export async function createCudaBackend(options: CudaBackendOptions = {}): Promise<Backend> {
  return createCudaBackendInstance(options);
}

/** Same as createCudaBackend, typed as the concrete class (benchmarks use its bench helpers). */
export async function createCudaBackendInstance(options: CudaBackendOptions = {}): Promise<CudaBackend> {
  return createFrom(loadNative(), options);
}

async function createFrom(load: NativeLoad, options: CudaBackendOptions): Promise<CudaBackend> {
  if (!load.ok) throw new BackendUnavailableError(CUDA_BACKEND_NAME, load.reason);
  const p = load.addon.probe();
  if (!p.ok) throw new BackendUnavailableError(CUDA_BACKEND_NAME, p.reason);
  const device = options.device ?? 0;
  try {
    const ctx = new load.addon.Context(device);
    return new CudaBackend(ctx, p.detail, p.totalBytes);
  } catch (e) {
    throw mapCudaError(e, `creating a context on device ${device}`);
  }
}

export const cudaBackendProvider: BackendProvider = {
  specificationVersion: BACKEND_SPECIFICATION_VERSION,
  name: CUDA_BACKEND_NAME,
  priority: CUDA_PRIORITY,
  description: 'NVIDIA GPUs through CUDA (sm_80+): bx mixed-precision kernels, CUDA-graph decode steps.',
  probe: probeCuda,
  create: (options?: BackendCreateOptions) => createCudaBackend(options as CudaBackendOptions),
};

/**
 * A provider over another build of the addon (tests: the host emulation in
 * build/emu, see scripts/build-emu.mjs). Same backend name 'cuda'.
 */
export function cudaProviderForAddon(addonFile: string, description: string): BackendProvider {
  return {
    ...cudaBackendProvider,
    description,
    probe: () => probeLoaded(loadNative(addonFile)),
    create: (options?: BackendCreateOptions) => createFrom(loadNative(addonFile), (options ?? {}) as CudaBackendOptions),
  };
}

/** Registers the CUDA provider with @bitexit/backend's registry (idempotent). */
export function registerCudaBackend(): void {
  if (registeredBackends().some((p) => p === cudaBackendProvider)) return;
  registerBackend(cudaBackendProvider);
}
