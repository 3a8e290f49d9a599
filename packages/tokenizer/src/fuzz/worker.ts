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
import { Progress, type Finding, type WorkerJob, type WorkerMessage } from './protocol.js';

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
  const send = (m: WorkerMessage) => port.postMessage(m);
  const state = await findTarget(job.target).setup();
  const { counts, values } = new Progress(job.progress);
  const found = (f: Finding) => send({ type: 'finding', finding: f });
  const runOnce = async (input: Uint8Array): Promise<{ ms: number; error: unknown }> => {
    values[0] = Date.now();
    Atomics.store(counts, 0, currentIndex);
    const t0 = performance.now();
    try {
      await state.run(input);
      return { ms: performance.now() - t0, error: null };
    } catch (e) {
      return { ms: performance.now() - t0, error: e ?? new Error(String(e)) };
    } finally {
      Atomics.store(counts, 0, -1);
    }
  };
  let currentIndex = job.from;
  let i = job.from;
  for (; i < job.to && Date.now() < job.deadline; i++) {
    currentIndex = i;
    const input = await state.generate(caseRng(job.seed, i));
    const m0 = memoryNow();
    let { ms, error } = await runOnce(input);
    const growth = memoryNow() - m0;
    if (ms > job.slowMs) {
      // Re-time once: the machine is shared, a single slow run may be someone else's load.
      const again = await runOnce(input);
      if (again.ms > job.slowMs) {
        const file = saveReproducer(job.outDir, job.target, job.seed, i, 'slow', input);
        found({ kind: 'slow', index: i, detail: `${Math.round(ms)} ms, then ${Math.round(again.ms)} ms`, file });
      } else Atomics.add(counts, 4, 1);
      ms = Math.min(ms, again.ms);
    }
    if (ms > values[1]!) values[1] = ms;
    if (growth > values[2]!) values[2] = growth;
    if (growth > 256 * 2 ** 20) {
      const file = saveReproducer(job.outDir, job.target, job.seed, i, 'memory', input);
      found({ kind: 'memory', index: i, detail: `memory grew ${Math.round(growth / 2 ** 20)} MB`, file });
    }
    if (error === null) Atomics.add(counts, 2, 1);
    else if (isBitexitError(error)) Atomics.add(counts, 3, 1);
    else {
      const file = saveReproducer(job.outDir, job.target, job.seed, i, 'untyped', input);
      const e = error as Error;
      found({ kind: 'untyped', index: i, detail: `${e?.name}: ${String(e?.message).slice(0, 300)} @ ${String(e?.stack).split('\n').slice(1, 4).join(' | ')}`, file });
    }
    Atomics.add(counts, 1, 1);
  }
  send({ type: 'done', next: i, notes: state.notes });
}

if (parentPort && workerData) {
  main(workerData as WorkerJob).catch((e: unknown) => {
    parentPort!.postMessage({ type: 'fatal', message: String((e as Error)?.stack ?? e) });
  });
}
