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
  /** Counters the worker keeps up to date case by case, readable after it is killed: see Progress. */
  progress: SharedArrayBuffer;
}

/**
 * Views of WorkerJob.progress. Kept in shared memory (not in messages) so the
 * counts of a worker killed mid-campaign are exact.
 */
export class Progress {
  static readonly BYTES = 64;
  /** [0] index of the running case (-1 between cases), [1] cases done, [2] ok, [3] typed errors, [4] slow once. */
  readonly counts: Int32Array;
  /** [0] start of the running case (Date.now()), [1] slowest case (ms), [2] largest memory growth (bytes). */
  readonly values: Float64Array;
  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(Progress.BYTES)) {
    this.counts = new Int32Array(buffer, 0, 8);
    this.values = new Float64Array(buffer, 32, 4);
  }
}

export interface Finding {
  kind: 'untyped' | 'slow' | 'hang' | 'oom' | 'memory';
  index: number;
  detail: string;
  file: string | null;
}

/** Worker to campaign: a finding as soon as it happens, and the end of the job. */
export type WorkerMessage =
  | { type: 'finding'; finding: Finding }
  | { type: 'done'; next: number; notes: string[] }
  | { type: 'fatal'; message: string };

