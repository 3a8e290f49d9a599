// The conformance suite on the WebGPU backend inside chromium (navigator.gpu; SwiftShader in CI).
import { defineConformanceSuite } from '@bitexit/conformance';
import { webgpuBackendProvider } from '@bitexit/backend-webgpu';
import { describeAdapter, runInPage } from './page.js';

console.log(await describeAdapter());
await runInPage(() => defineConformanceSuite({ provider: webgpuBackendProvider }));
