/**
 * The fuzz worker: runs cases [from, to) of one target and reports counts.
 * It runs in a worker_thread with a heap limit, so a case that hangs or
 * allocates without bound can be killed by the campaign without losing it.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { isBitexitError } from '@bitexit/format';
import { caseRng } from './mutators.js';
import { findTarget } from './targets.js';
import type { Finding, WorkerJob, WorkerReport } from './protocol.js';

export function saveReproducer(outDir: string, target: string, seed: number, index: number, kind: string, input: Uint8Array): string {
  const dir = join(outDir, target);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `seed${seed}-case${index}-${kind}.bin`);
  writeFileSync(file, input);
  return file;
}

function memoryNow(): number {
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

async function main(job: WorkerJob): Promise<void> {
  const port = parentPort!;
  const state = await findTarget(job.target).setup();
  const index = new Int32Array(job.progress, 0, 1);
  const started = new Float64Array(job.progress, 8, 1);
  let report: WorkerReport = { type: 'report', done: 0, ok: 0, typed: 0, slowOnce: 0, maxCaseMs: 0, maxGrowth: 0, findings: [], next: job.from, finished: false, notes: state.notes };
  let lastSent = Date.now();
  const send = (finished: boolean, next: number) => {
    report.finished = finished;
    report.next = next;
    port.postMessage(report);
    report = { type: 'report', done: 0, ok: 0, typed: 0, slowOnce: 0, maxCaseMs: 0, maxGrowth: 0, findings: [], next, finished: false };
    lastSent = Date.now();
  };
  const runOnce = async (input: Uint8Array): Promise<{ ms: number; error: unknown }> => {
    const t0 = performance.now();
    try {
      await state.run(input);
      return { ms: performance.now() - t0, error: null };
    } catch (e) {
      return { ms: performance.now() - t0, error: e ?? new Error(String(e)) };
    }
  };
  let i = job.from;
  for (; i < job.to && Date.now() < job.deadline; i++) {
    const input = await state.generate(caseRng(job.seed, i));
    started[0] = Date.now();
    Atomics.store(index, 0, i);
    const m0 = memoryNow();
    let { ms, error } = await runOnce(input);
    const growth = memoryNow() - m0;
    Atomics.store(index, 0, -1);
    if (ms > job.slowMs) {
      // Re-time once: the machine is shared, a single slow run may be someone else's load.
      started[0] = Date.now();
      Atomics.store(index, 0, i);
      const again = await runOnce(input);
      Atomics.store(index, 0, -1);
      if (again.ms > job.slowMs) {
        const file = saveReproducer(job.outDir, job.target, job.seed, i, 'slow', input);
        report.findings.push({ kind: 'slow', index: i, detail: `${Math.round(ms)} ms, then ${Math.round(again.ms)} ms`, file });
      } else report.slowOnce++;
      ms = Math.min(ms, again.ms);
    }
    if (ms > report.maxCaseMs) report.maxCaseMs = ms;
    if (growth > report.maxGrowth) report.maxGrowth = growth;
    if (growth > 256 * 2 ** 20) {
      const file = saveReproducer(job.outDir, job.target, job.seed, i, 'memory', input);
      report.findings.push({ kind: 'memory', index: i, detail: `memory grew ${Math.round(growth / 2 ** 20)} MB`, file });
    }
    report.done++;
    if (error === null) report.ok++;
    else if (isBitexitError(error)) report.typed++;
    else {
      const file = saveReproducer(job.outDir, job.target, job.seed, i, 'untyped', input);
      const e = error as Error;
      const finding: Finding = { kind: 'untyped', index: i, detail: `${e?.name}: ${String(e?.message).slice(0, 300)} @ ${String(e?.stack).split('\n').slice(1, 4).join(' | ')}`, file };
      report.findings.push(finding);
    }
    if (Date.now() - lastSent > 500) send(false, i + 1);
  }
  send(true, i);
}

if (parentPort && workerData) {
  main(workerData as WorkerJob).catch((e: unknown) => {
    parentPort!.postMessage({ type: 'fatal', message: String((e as Error)?.stack ?? e) });
  });
}
