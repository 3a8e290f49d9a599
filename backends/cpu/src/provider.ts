/** The CPU backend's provider: always available, lowest priority. */
import { BACKEND_SPECIFICATION_VERSION, registerBackend, registeredBackends, type Backend, type BackendProvider } from '@bitexit/backend';
import { CPU_BACKEND_NAME, CpuBackend } from './backend.js';

export const cpuBackendProvider: BackendProvider = {
  specificationVersion: BACKEND_SPECIFICATION_VERSION,
  name: CPU_BACKEND_NAME,
  priority: 0,
  description: 'Reference CPU backend in pure TypeScript (f32/f16/bf16/q8_0 weights); runs everywhere JavaScript runs.',
  async probe() {
    return { ok: true as const, detail: 'pure TypeScript, single thread' };
  },
  async create(): Promise<Backend> {
    return new CpuBackend();
  },
};

/** A new CPU backend instance. */
export async function createCpuBackend(): Promise<Backend> {
  return new CpuBackend();
}

/** Registers the CPU provider with @bitexit/backend's registry (idempotent). */
export function registerCpuBackend(): void {
  if (registeredBackends().some((p) => p === cpuBackendProvider)) return;
  registerBackend(cpuBackendProvider);
}
