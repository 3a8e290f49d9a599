// The cross-backend conformance suite on WebGPU, twice: the default code paths
// (shader-f16 and subgroups when the adapter has them: lavapipe does) and the
// fallback paths (f16 weights as packed u32, workgroup-memory reductions).
// Without an adapter (no Vulkan driver in Node) every test skips with the reason.
import { defineConformanceSuite } from '@bitexit/conformance';
import { webgpuBackendProvider } from './index.js';

defineConformanceSuite({ provider: webgpuBackendProvider });
defineConformanceSuite({ provider: webgpuBackendProvider, options: { disableFeatures: ['shader-f16', 'subgroups'] } });
