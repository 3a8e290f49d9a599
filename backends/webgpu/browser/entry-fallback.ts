// The suite's ops, programs and error checks on WebGPU with subgroups turned off (SwiftShader has no
// shader-f16 but does report subgroups): the workgroup-memory reductions. The whole-model checks run
// once, in entry-webgpu; in Node, lavapipe runs both paths in full.
import { defineConformanceSuite } from '@bitexit/conformance';
import { webgpuBackendProvider } from '@bitexit/backend-webgpu';
import { runInPage } from './page.js';

await runInPage(() =>
  defineConformanceSuite({ provider: webgpuBackendProvider, options: { disableFeatures: ['shader-f16', 'subgroups'] }, models: false }),
);
