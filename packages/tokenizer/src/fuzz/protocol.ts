/** Messages between the campaign (main thread) and its fuzz worker. */

export interface WorkerJob {
  target: string;
  seed: number;
  /** First case index and the index to stop before. */
  from: number;
  to: number;
  /** Stop (at a case boundary) after this Date.now() value. */
  deadline: number;
  /** A case slower than this is re-run once; slow twice, it counts as a finding. */
  slowMs: number;
  /** Where reproducers go (a folder per target). */
  outDir: string;
  /** [0]: index of the case running (-1: between cases); [1]: its start (Date.now(), in the Float64 view). */
  progress: SharedArrayBuffer;
}

export interface Finding {
  kind: 'untyped' | 'slow' | 'hang' | 'oom' | 'memory';
  index: number;
  detail: string;
  file: string | null;
}

export interface WorkerReport {
  type: 'report';
  /** Cases finished since the last report. */
  done: number;
  ok: number;
  typed: number;
  /** Cases over slowMs that were fast on their re-run (machine noise). */
  slowOnce: number;
  maxCaseMs: number;
  /** Largest growth of V8 heap + external memory over one case (bytes, measured after it, without a GC in between). */
  maxGrowth: number;
  findings: Finding[];
  /** Index of the next case this worker will run. */
  next: number;
  finished: boolean;
  notes?: string[];
}

export const PROGRESS_INDEX = 0;
