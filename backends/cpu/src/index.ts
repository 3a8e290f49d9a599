export { CpuBackend, CPU_BACKEND_NAME, CPU_MAX_BUFFER_BYTES, type CpuBackendOptions } from './backend.js';
export { cpuBackendProvider, createCpuBackend, registerCpuBackend } from './provider.js';
export {
  KernelRegistry,
  cpuKernelRegistry,
  registerKernel,
  getKernel,
  kernelKey,
  type CpuKernel,
  type KernelContext,
  type KernelStep,
  type OpOf,
  type StepState,
} from './kernels/registry.js';
export { BUILTIN_KERNELS, registerBuiltinKernels } from './kernels/index.js';
export { sampleLogits, createSampleScratch, type SampleScratch } from './kernels/sample.js';
export { decodeRange, type CpuWeightData } from './storage.js';
