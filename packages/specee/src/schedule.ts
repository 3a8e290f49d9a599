import { SpeceeOptionError } from './errors.js';

export interface OfflineOptions {
  /** Keep this many layers (the most frequent exits). */
  count?: number;
  /** Keep the fewest layers whose exits cover this fraction of all early exits. Default 0.9 when count is absent. */
  coverage?: number;
}

/**
 * Offline scheduling: from the exit layer of every training token (nLayers−1
 * = ran full depth), keep predictors only where exits are frequent, never on
 * the last layer. Ties favour the shallower layer. Returns ascending layers.
 */
export function offlineLayers(exitLayers: ArrayLike<number>, nLayers: number, options: OfflineOptions = {}): number[] {
  const counts = new Array<number>(nLayers).fill(0);
  for (let i = 0; i < exitLayers.length; i++) {
    const e = exitLayers[i]!;
    if (Number.isInteger(e) && e >= 0 && e < nLayers - 1) counts[e]!++;
  }
  return offlineFromCounts(counts, options);
}

export function offlineFromCounts(counts: readonly number[], options: OfflineOptions = {}): number[] {
  const nLayers = counts.length;
  const candidates = counts
    .slice(0, Math.max(0, nLayers - 1))
    .map((c, layer) => ({ c, layer }))
    .filter((e) => e.c > 0)
    .sort((a, b) => b.c - a.c || a.layer - b.layer);
  let keep: number;
  if (options.count !== undefined) {
    if (!Number.isInteger(options.count) || options.count < 0) throw new SpeceeOptionError(`offline layer count must be a non-negative integer, got ${options.count}`);
    keep = Math.min(options.count, candidates.length);
  } else {
    const coverage = options.coverage ?? 0.9;
    if (!(coverage >= 0 && coverage <= 1)) throw new SpeceeOptionError(`coverage must be in [0, 1], got ${coverage}`);
    const total = candidates.reduce((a, e) => a + e.c, 0);
    keep = 0;
    let covered = 0;
    while (keep < candidates.length && covered < coverage * total) covered += candidates[keep++]!.c;
  }
  return candidates
    .slice(0, keep)
    .map((e) => e.layer)
    .sort((a, b) => a - b);
}

export interface OnlineOptions {
  /** Exit layers remembered. Default 5. */
  history?: number;
  /** Offsets activated around each remembered exit. Default [-2, 0, 2]. */
  spread?: readonly number[];
}

/**
 * Two-level scheduling: active predictor layers = offline set ∪ {e−2, e, e+2
 * for each of the last 5 exit layers e} (a full-depth token records the last
 * layer, which activates the layers two below it). Layers outside
 * [0, nLayers−2] are dropped. The history persists across requests until
 * `reset`.
 */
export class ExitScheduler {
  readonly offline: readonly number[];
  readonly historySize: number;
  readonly spread: readonly number[];
  private recent: number[] = [];

  constructor(
    readonly nLayers: number,
    offline: readonly number[],
    options: OnlineOptions = {},
  ) {
    this.offline = [...new Set(offline)].filter((l) => l >= 0 && l < nLayers - 1).sort((a, b) => a - b);
    this.historySize = options.history ?? 5;
    this.spread = options.spread ?? [-2, 0, 2];
    if (!Number.isInteger(this.historySize) || this.historySize < 0) throw new SpeceeOptionError(`history must be a non-negative integer`);
  }

  /** The last exit layers, oldest first. */
  get history(): readonly number[] {
    return this.recent;
  }

  /** Active layers for the next token, ascending. */
  active(): number[] {
    const s = new Set(this.offline);
    for (const e of this.recent) {
      for (const d of this.spread) {
        const l = e + d;
        if (l >= 0 && l < this.nLayers - 1) s.add(l);
      }
    }
    return [...s].sort((a, b) => a - b);
  }

  /** Records a token's exit layer (nLayers−1 for full depth). */
  record(exitLayer: number): void {
    if (this.historySize === 0) return;
    this.recent.push(exitLayer);
    if (this.recent.length > this.historySize) this.recent.shift();
  }

  reset(): void {
    this.recent = [];
  }
}
