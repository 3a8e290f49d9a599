import cliProgress from 'cli-progress';
import type { LoadProgress } from '@bitexit/engine';
import type { OutputStream } from './io.js';

/** Progress bars go to stderr, and only when it is a terminal or the user asked with --progress. */
export function progressEnabled(flag: boolean | undefined, stderr: OutputStream): boolean {
  return flag ?? stderr.isTTY === true;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export interface Progress<T> {
  update(value: T): void;
  stop(): void;
}

const NOOP: Progress<never> = { update() {}, stop() {} };

function makeBar(stderr: OutputStream, format: string): cliProgress.SingleBar {
  return new cliProgress.SingleBar(
    {
      stream: stderr as unknown as NodeJS.WritableStream,
      format,
      hideCursor: stderr.isTTY === true,
      clearOnComplete: stderr.isTTY === true,
      noTTYOutput: true,
      notTTYSchedule: 1000,
      barsize: 30,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** Weight upload bar for `loadModel({ onProgress })`. */
export function loadProgress(enabled: boolean, stderr: OutputStream): Progress<LoadProgress> {
  if (!enabled) return NOOP;
  const bar = makeBar(stderr, 'loading  {bar} {percentage}% | {done}/{size} | {phase} {tensor}');
  let started = false;
  return {
    update(p) {
      const total = Math.max(p.totalBytes, 1);
      const payload = { done: formatBytes(p.loadedBytes), size: formatBytes(p.totalBytes), phase: p.phase, tensor: p.tensor ?? '' };
      if (!started) {
        bar.start(total, p.loadedBytes, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(p.loadedBytes, payload);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Chunk bar for perplexity evaluation. */
export function chunkProgress(enabled: boolean, stderr: OutputStream, label: string): Progress<{ done: number; total: number }> {
  if (!enabled) return NOOP;
  const bar = makeBar(stderr, `${label} {bar} {value}/{total} chunks | eta {eta_formatted}`);
  let started = false;
  return {
    update({ done, total }) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
