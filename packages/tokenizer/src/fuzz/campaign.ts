/**
 * The fuzz campaign: for each target, a worker_thread (heap-limited) runs the
 * cases; a watchdog kills it when one case runs past `timeoutMs` and a dead
 * worker (heap limit reached) is replaced, the case that killed it recorded
 * and regenerated into a reproducer file. One worker at a time.
 */
import { Worker } from 'node:worker_threads';
import { caseRng } from './mutators.js';
import { findTarget, type TargetState } from './targets.js';
import { Progress, type Finding, type WorkerJob, type WorkerMessage } from './protocol.js';
import { saveReproducer } from './worker.js';

export interface CampaignOptions {
  targets: readonly string[];
  seed: number;
  /** Cases per target. */
  cases: number;
  /** Time budget per target, seconds (whichever of cases/seconds ends first). */
  seconds: number;
  /** A case running longer is killed (the worker with it). */
  timeoutMs: number;
  /** A case slower than this (twice) is a finding. */
  slowMs: number;
  /** Heap limit of the worker (old generation), MB. */
  heapMb: number;
  outDir: string;
  /** The bundled worker script (see scripts/fuzz.mjs). */
  workerPath: string;
  log?: (line: string) => void;
}

export interface TargetResult {
  target: string;
  seed: number;
  cases: number;
  ok: number;
  typed: number;
  untyped: number;
  /** Cases over slowMs twice in a row, plus cases killed by the watchdog. */
  slow: number;
  hangs: number;
  oom: number;
  /** Cases that grew memory by more than 256 MB (measured) or hit the heap limit. */
  memory: number;
  slowOnce: number;
  maxCaseMs: number;
  maxGrowthMb: number;
  seconds: number;
  findings: Finding[];
  notes: string[];
}

export async function runTarget(name: string, o: CampaignOptions): Promise<TargetResult> {
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const res: TargetResult = { target: name, seed: o.seed, cases: 0, ok: 0, typed: 0, untyped: 0, slow: 0, hangs: 0, oom: 0, memory: 0, slowOnce: 0, maxCaseMs: 0, maxGrowthMb: 0, seconds: 0, findings: [], notes: [] };
  let state: TargetState | null = null; // main-thread copy, only to regenerate the input of a killed case
  const regenerate = async (index: number, kind: string): Promise<string> => {
    state ??= await findTarget(name).setup();
    return saveReproducer(o.outDir, name, o.seed, index, kind, await state.generate(caseRng(o.seed, index)));
  };
  let next = 0;
  while (next < o.cases && Date.now() < deadline) {
    const progress = new Progress();
    const { counts, values } = progress;
    Atomics.store(counts, 0, -1);
    const job: WorkerJob = { target: name, seed: o.seed, from: next, to: o.cases, deadline, slowMs: o.slowMs, outDir: o.outDir, progress: progress.buffer };
    type Outcome = { next: number | null; killed: 'hang' | 'oom' | 'crash' | null; at: number; detail: string };
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const worker = new Worker(o.workerPath, { workerData: job, resourceLimits: { maxOldGenerationSizeMb: o.heapMb, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 } });
      let settled = false;
      const finish = (v: Outcome) => {
        if (settled) return;
        settled = true;
        clearInterval(watch);
        void worker.terminate();
        resolve(v);
      };
      const watch = setInterval(() => {
        const at = Atomics.load(counts, 0);
        if (at >= 0 && Date.now() - values[0]! > o.timeoutMs) finish({ next: null, killed: 'hang', at, detail: `still running after ${o.timeoutMs} ms: worker terminated` });
      }, 50);
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'fatal') {
          settled = true;
          clearInterval(watch);
          void worker.terminate();
          reject(new Error(`fuzz worker for ${name} failed: ${m.message}`));
        } else if (m.type === 'finding') {
          const f = m.finding;
          res.findings.push(f);
          if (f.kind === 'untyped') res.untyped++;
          else if (f.kind === 'slow') res.slow++;
          else if (f.kind === 'memory') res.memory++;
          o.log?.(`  ${name}: ${f.kind} at case ${f.index}: ${f.detail}${f.file ? ` (saved ${f.file})` : ''}`);
        } else {
          for (const n of m.notes) if (!res.notes.includes(n)) res.notes.push(n);
          finish({ next: m.next, killed: null, at: -1, detail: '' });
        }
      });
      worker.on('error', (e: Error & { code?: string }) => {
        const at = Atomics.load(counts, 0);
        const oom = e.code === 'ERR_WORKER_OUT_OF_MEMORY';
        finish({ next: null, killed: oom ? 'oom' : 'crash', at: at >= 0 ? at : next + Atomics.load(counts, 1), detail: `${e.code ?? e.name}: ${e.message}` });
      });
      worker.on('exit', () => finish({ next: null, killed: 'crash', at: next + Atomics.load(counts, 1), detail: 'worker exited without finishing' }));
    });
    // Exact counts of this worker, even when it was killed.
    res.cases += Atomics.load(counts, 1);
    res.ok += Atomics.load(counts, 2);
    res.typed += Atomics.load(counts, 3);
    res.slowOnce += Atomics.load(counts, 4);
    res.maxCaseMs = Math.max(res.maxCaseMs, values[1]!);
    res.maxGrowthMb = Math.max(res.maxGrowthMb, values[2]! / 2 ** 20);
    if (outcome.killed !== null) {
      res.cases++;
      const kind = outcome.killed === 'crash' ? 'untyped' : outcome.killed;
      const file = await regenerate(outcome.at, kind);
      res.findings.push({ kind, index: outcome.at, detail: outcome.detail, file });
      if (kind === 'hang') {
        res.hangs++;
        res.slow++;
      } else if (kind === 'oom') {
        res.oom++;
        res.memory++;
      } else res.untyped++;
      o.log?.(`  ${name}: ${kind} at case ${outcome.at}: ${outcome.detail} (saved ${file})`);
      next = outcome.at + 1;
    } else {
      next = outcome.next!;
      break; // the worker ran to the end of its job (all cases or the deadline)
    }
  }
  res.seconds = (Date.now() - t0) / 1000;
  return res;
}

export async function runCampaign(o: CampaignOptions): Promise<TargetResult[]> {
  const out: TargetResult[] = [];
  for (const t of o.targets) {
    const r = await runTarget(t, o);
    o.log?.(formatRow(r));
    out.push(r);
  }
  return out;
}

export const TABLE_HEADER =
  '| target | cases | seed | time (s) | cases/s | typed errors | untyped errors | cases > 1 s | hangs killed | cases > 256 MB (incl. heap-limit kills) | max case (ms) | max memory growth (MB) |\n' +
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';

export function formatRow(r: TargetResult): string {
  return `| ${r.target} | ${r.cases.toLocaleString('en-US')} | ${r.seed} | ${r.seconds.toFixed(0)} | ${Math.round(r.cases / Math.max(r.seconds, 1e-3))} | ${r.typed.toLocaleString('en-US')} | ${r.untyped} | ${r.slow} | ${r.hangs} | ${r.memory} | ${r.maxCaseMs.toFixed(0)} | ${r.maxGrowthMb.toFixed(1)} |`;
}
