export { CudaBackend, CUDA_BACKEND_NAME, CUDA_OPS, CUDA_WEIGHT_DTYPES, mapCudaError } from './backend.js';
export {
  cudaBackendProvider,
  cudaProviderForAddon,
  createCudaBackend,
  createCudaBackendInstance,
  probeCuda,
  registerCudaBackend,
  CUDA_PRIORITY,
  type CudaBackendOptions,
} from './provider.js';
export { loadNative, addonPath, type NativeLoad } from './native.js';
