// The conformance suite on the WebGPU backend inside chromium (navigator.gpu; SwiftShader in CI).
import { defineConformanceSuite } from '@bitexit/conformance';
import { webgpuBackendProvider } from '@bitexit/backend-webgpu';
import { describeAdapter, runInPage } from './page.js';
import { leaveOut } from './shims/vitest.js';

// Greedy decoding on SwiftShader is slow (tens of ms per token), so the page leaves out the
// llama2c greedy goldens: their device work is the same as the GGUF goldens' (same weights, same
// programs); the llama2c loader still runs here through the llama2c logits check, and Node runs them all.
leaveOut((name) =>
  /model\/stories260K\/llama2c\/greedy-golden/.test(name) ? 'left out in the browser: same device work as the GGUF greedy goldens (run in Node)' : null,
);

console.log(await describeAdapter());
await runInPage(() => defineConformanceSuite({ provider: webgpuBackendProvider }));
