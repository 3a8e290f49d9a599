/// <reference types="@webgpu/types" />
export { WebGpuBackend, WEBGPU_BACKEND_NAME, type WebGpuDeviceInfo } from './backend.js';
export {
  webgpuBackendProvider,
  createWebGpuBackend,
  registerWebGpuBackend,
  type WebGpuBackendOptions,
  type WebGpuFeatureName,
} from './provider.js';
export type { Features as WebGpuFeatures } from './wgsl.js';
