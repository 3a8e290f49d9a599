/// <reference types="@webgpu/types" />
/**
 * Page side of the harness: loads the fixture manifest, lets `define`
 * register the suite (describe/it from the vitest stand-in), runs it and
 * hands every result to the harness (window.__bitexitReport, exposed by
 * playwright), then sets window.__bitexitDone.
 */
import { loadFixtureManifest } from './shims/fixture-files.js';
import { runAll, type TestResult } from './shims/vitest.js';

interface HarnessWindow {
  __bitexitReport?: (r: TestResult) => Promise<void>;
  __bitexitDone?: boolean;
}

const w = globalThis as unknown as HarnessWindow;

export async function runInPage(define: () => void | Promise<void>): Promise<void> {
  const pending: Promise<void>[] = [];
  const report = (r: TestResult) => {
    if (w.__bitexitReport) pending.push(w.__bitexitReport(r));
    else console.log(`${r.outcome} ${r.name}${r.message ? `: ${r.message}` : ''}`);
  };
  try {
    const manifest = await loadFixtureManifest('/fixtures-manifest.json');
    if (!manifest) console.warn('no fixtures served: whole-model checks will skip');
    await define();
    await runAll(report);
  } catch (e) {
    report({ name: 'page setup', outcome: 'fail', ms: 0, message: (e as Error).stack ?? String(e) });
  } finally {
    await Promise.all(pending);
    w.__bitexitDone = true;
  }
}

/** One line about the adapter chromium offers (or why there is none). */
export async function describeAdapter(): Promise<string> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return 'navigator.gpu is missing (WebGPU disabled in this browser)';
  const adapter = await gpu.requestAdapter();
  if (!adapter) return 'navigator.gpu.requestAdapter() returned null (no usable adapter)';
  const i = adapter.info;
  const fallback = (i as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return (
    `adapter vendor=${i.vendor} architecture=${i.architecture} device=${i.device || '-'} description=${i.description || '-'}` +
    ` fallback=${fallback} shader-f16=${adapter.features.has('shader-f16')} subgroups=${adapter.features.has('subgroups')}` +
    ` maxStorageBufferBindingSize=${adapter.limits.maxStorageBufferBindingSize} maxBufferSize=${adapter.limits.maxBufferSize}`
  );
}

/** Median milliseconds of one tiny submit + mapAsync readback: the floor of any per-token cost in this browser. */
export async function readbackLatencyMs(rounds = 30): Promise<number> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter();
  if (!adapter) return NaN;
  const device = await adapter.requestDevice();
  const src = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    device.queue.writeBuffer(src, 0, new Uint32Array([i, 0, 0, 0]));
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, 16);
    device.queue.submit([enc.finish()]);
    await dst.mapAsync(GPUMapMode.READ);
    dst.unmap();
    times.push(performance.now() - t0);
  }
  device.destroy();
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}
