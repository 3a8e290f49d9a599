/**
 * Global bit allocation: choose the width of every column group of every
 * matrix so that the total error is smallest for a total number of bits.
 *
 * Each column group offers a few (bits, error) points, one per allowed width.
 * The allocator keeps each group's lower convex hull (so a 2→4 jump is taken
 * directly when 3 bits is not worth it on its own) and upgrades greedily
 * across ALL matrices by the largest error reduction per extra bit, with a
 * heap, until the budget is spent. For convex per-group curves this greedy is
 * the optimal solution of the Lagrangian relaxation (Shoham & Gersho).
 */
import type { Width } from './rtn.js';

export interface AllocMatrix {
  /** Column groups. */
  groups: number;
  /** errors[wi][g]: error of column group g at widths[wi], already normalised so matrices are comparable. */
  errors: readonly ArrayLike<number>[];
  /** Bits column group g costs at `width` (codes plus any per-group metadata that depends on the width). */
  groupBits(g: number, width: Width): number;
}

export interface AllocStep {
  matrix: number;
  group: number;
  from: Width;
  to: Width;
  bits: number;
  gain: number;
}

export interface Allocation {
  /** Chosen width per column group, per matrix. */
  widths: Uint8Array[];
  /** Σ groupBits over all groups at the chosen widths. */
  bits: number;
  /** Upgrades in the order they were applied (undo from the end to shed bits). */
  steps: AllocStep[];
  /** Σ error at the chosen widths. */
  error: number;
}

interface HullStep {
  from: Width;
  to: Width;
  bits: number;
  gain: number;
}

/** Upgrade steps along the lower convex hull of one group's (bits, error) points. */
function hullSteps(points: { width: Width; bits: number; err: number }[]): HullStep[] {
  // Points sorted by bits; keep only those that lower the error.
  const pts = [...points].sort((a, b) => a.bits - b.bits);
  const kept = [pts[0]!];
  for (const p of pts.slice(1)) if (p.err < kept[kept.length - 1]!.err && p.bits > kept[kept.length - 1]!.bits) kept.push(p);
  // Lower convex hull (slopes −Δerr/Δbits must decrease).
  const hull: typeof kept = [];
  for (const p of kept) {
    while (hull.length >= 2) {
      const a = hull[hull.length - 2]!;
      const b = hull[hull.length - 1]!;
      const gab = (a.err - b.err) / (b.bits - a.bits);
      const gbp = (b.err - p.err) / (p.bits - b.bits);
      if (gbp >= gab) hull.pop();
      else break;
    }
    hull.push(p);
  }
  const steps: HullStep[] = [];
  for (let i = 1; i < hull.length; i++) {
    const a = hull[i - 1]!;
    const b = hull[i]!;
    steps.push({ from: a.width, to: b.width, bits: b.bits - a.bits, gain: (a.err - b.err) / (b.bits - a.bits) });
  }
  return steps;
}

class MaxHeap<T> {
  private items: { key: number; value: T }[] = [];
  get size(): number {
    return this.items.length;
  }
  push(key: number, value: T): void {
    const a = this.items;
    a.push({ key, value });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.key >= a[i]!.key) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): { key: number; value: T } | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.key > a[m]!.key) m = l;
        if (r < a.length && a[r]!.key > a[m]!.key) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * Allocates widths (from `widths`, ascending) under `budgetBits` for the
 * width-dependent part of the cost. Every group starts at the narrowest
 * width; throws a RangeError when even that does not fit.
 */
export function allocateWidths(matrices: readonly AllocMatrix[], widths: readonly Width[], budgetBits: number): Allocation {
  const ws = [...widths].sort((a, b) => a - b);
  const min = ws[0]!;
  const chosen = matrices.map((m) => new Uint8Array(m.groups).fill(min));
  let bits = 0;
  let error = 0;
  const plans: HullStep[][][] = [];
  const heap = new MaxHeap<{ m: number; g: number; k: number }>();
  matrices.forEach((m, mi) => {
    const plan: HullStep[][] = [];
    for (let g = 0; g < m.groups; g++) {
      const points = ws.map((w) => ({ width: w, bits: m.groupBits(g, w), err: Number(m.errors[widths.indexOf(w)]![g]) }));
      bits += points[0]!.bits;
      error += points[0]!.err;
      const steps = hullSteps(points);
      plan.push(steps);
      if (steps.length > 0) heap.push(steps[0]!.gain, { m: mi, g, k: 0 });
    }
    plans.push(plan);
  });
  if (bits > budgetBits) {
    throw new RangeError(`the budget (${budgetBits.toFixed(0)} bits) is below the narrowest allocation (${bits.toFixed(0)} bits)`);
  }
  const applied: AllocStep[] = [];
  for (let top = heap.pop(); top; top = heap.pop()) {
    const { m, g, k } = top.value;
    const s = plans[m]![g]![k]!;
    if (bits + s.bits > budgetBits) continue;
    bits += s.bits;
    error -= s.gain * s.bits;
    chosen[m]![g] = s.to;
    applied.push({ matrix: m, group: g, from: s.from, to: s.to, bits: s.bits, gain: s.gain });
    const next = plans[m]![g]![k + 1];
    if (next) heap.push(next.gain, { m, g, k: k + 1 });
  }
  return { widths: chosen, bits, steps: applied, error };
}

/** Reverts the last applied steps of `a` (in place) until `fits(widths)` holds or nothing is left to undo. */
export function shedUntil(a: Allocation, fits: (widths: Uint8Array[]) => boolean): number {
  let undone = 0;
  while (!fits(a.widths) && a.steps.length > 0) {
    const s = a.steps.pop()!;
    a.widths[s.matrix]![s.group] = s.from;
    a.bits -= s.bits;
    a.error += s.gain * s.bits;
    undone++;
  }
  return undone;
}
