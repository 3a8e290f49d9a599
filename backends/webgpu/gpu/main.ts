/**
 * The WebGPU GPU bundle's entry point (bundled by scripts/gpu-bundle.mjs, with
 * `vitest` mapped to @bitexit/conformance/standalone): runs the conformance
 * suite on the machine's WebGPU adapter (Dawn over Vulkan in Node) twice, with
 * the default code paths (shader-f16, subgroups when present) and with the
 * fallback paths, whole fixture models included, and writes JSON.
 * Usage: node bitexit-webgpu-check.mjs [results.json] [--no-models] [--no-fallback]
 * Exit status: 0 all passed, 1 failures, 2 WebGPU unavailable.
 */
import { writeFileSync } from 'node:fs';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { defineConformanceSuite } from '@bitexit/conformance';
import { runAndSummarize } from '@bitexit/conformance/standalone';
import { webgpuBackendProvider } from '../src/index.js';

const args = process.argv.slice(2);
const outFile = args.find((a) => !a.startsWith('--')) ?? 'bitexit-webgpu-results.json';
const log = (s: string) => console.log(s);

async function main(): Promise<number> {
  const result: Record<string, unknown> = { when: new Date().toISOString(), node: process.version, platform: `${process.platform}-${process.arch}` };
  const availability = await webgpuBackendProvider.probe();
  result.availability = availability;
  if (!availability.ok) {
    log(`WebGPU unavailable: ${availability.reason}`);
    result.status = 'unavailable';
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    return 2;
  }
  log(`WebGPU: ${availability.detail}${availability.notForAuto ? ` — ${availability.notForAuto}` : ''}`);
  const models = !args.includes('--no-models');
  defineConformanceSuite({ provider: webgpuBackendProvider, models, cpuReference: createCpuBackend });
  if (!args.includes('--no-fallback')) {
    defineConformanceSuite({ provider: webgpuBackendProvider, models, cpuReference: createCpuBackend, options: { disableFeatures: ['shader-f16', 'subgroups'] } });
  }
  const summary = await runAndSummarize(log);
  const failed = summary.failed;
  result.conformance = summary;
  result.status = failed ? 'failed' : 'passed';
  writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${outFile}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
