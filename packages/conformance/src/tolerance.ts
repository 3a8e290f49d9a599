import type { OpKind } from '@bitexit/backend';

/** Error bounds for one comparison. */
export interface Bound {
  /** Largest normalised mean squared error sum((got-want)^2) / sum(want^2). */
  nmse: number;
  /** Largest |got - want| per element, as a fraction of max(1, max |want|). */
  maxAbs: number;
}

export interface ToleranceOptions {
  /** Overrides the default bound for every op. */
  nmse?: number;
  maxAbs?: number;
  /** Per-op overrides (take precedence). */
  ops?: Partial<Record<OpKind, Partial<Bound>>>;
  /** Max |logit difference| for whole-model logits (golden file and CPU comparison). */
  logitsMaxAbs?: number;
}

export interface ResolvedTolerance {
  op(kind: OpKind): Bound;
  logitsMaxAbs: number;
}

/** Defaults by the backend's declared floatPrecision (see README). */
export const DEFAULT_TOLERANCE: Record<16 | 32, Bound & { logitsMaxAbs: number }> = {
  32: { nmse: 1e-11, maxAbs: 1e-5, logitsMaxAbs: 1e-4 },
  16: { nmse: 1e-5, maxAbs: 1e-2, logitsMaxAbs: 5e-2 },
};

/**
 * Per-op defaults that differ from the table above. At 32-bit precision a
 * kernel may legitimately compute rope angles (pos + t) * invFreq in f32
 * (rounding at position ~250 alone gives NMSE ~3e-11) and attention scores in
 * f32 before exp (scores of magnitude ~100 lose ~1e-5 absolute).
 */
export const DEFAULT_OP_TOLERANCE: Record<16 | 32, Partial<Record<OpKind, Bound>>> = {
  32: { rope: { nmse: 1e-9, maxAbs: 1e-4 }, attention: { nmse: 1e-9, maxAbs: 1e-4 } },
  16: {},
};

export function resolveTolerance(precision: 16 | 32, options: ToleranceOptions = {}): ResolvedTolerance {
  const base = DEFAULT_TOLERANCE[precision] ?? DEFAULT_TOLERANCE[16];
  const opBase = DEFAULT_OP_TOLERANCE[precision] ?? {};
  return {
    op(kind) {
      const o = options.ops?.[kind] ?? {};
      const d = opBase[kind];
      return {
        nmse: o.nmse ?? options.nmse ?? d?.nmse ?? base.nmse,
        maxAbs: o.maxAbs ?? options.maxAbs ?? d?.maxAbs ?? base.maxAbs,
      };
    },
    logitsMaxAbs: options.logitsMaxAbs ?? base.logitsMaxAbs,
  };
}

export interface Comparison {
  nmse: number;
  maxAbs: number;
  maxAbsIndex: number;
  scale: number;
}

/** Normalised error (llama.cpp test-backend-ops style) and max abs difference. */
export function compareArrays(got: ArrayLike<number>, want: ArrayLike<number>): Comparison {
  if (got.length !== want.length) throw new Error(`length mismatch: got ${got.length} values, expected ${want.length}`);
  let err = 0;
  let ref = 0;
  let maxAbs = 0;
  let maxAbsIndex = -1;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (g === w && !Number.isFinite(w)) continue; // equal infinities
    if (!Number.isFinite(g) || !Number.isFinite(w)) return { nmse: Infinity, maxAbs: Infinity, maxAbsIndex: i, scale };
    const d = Math.abs(g - w);
    err += d * d;
    ref += w * w;
    if (d > maxAbs || Number.isNaN(d)) {
      maxAbs = d;
      maxAbsIndex = i;
    }
    scale = Math.max(scale, Math.abs(w));
  }
  const nmse = ref === 0 ? (err === 0 ? 0 : Infinity) : err / ref;
  return { nmse, maxAbs, maxAbsIndex, scale };
}

/** Throws a descriptive error when `got` is not within `bound` of `want`. */
export function assertClose(label: string, got: ArrayLike<number>, want: ArrayLike<number>, bound: Bound): Comparison {
  const c = compareArrays(got, want);
  const absLimit = bound.maxAbs * c.scale;
  if (!(c.nmse <= bound.nmse) || !(c.maxAbs <= absLimit)) {
    const i = c.maxAbsIndex;
    throw new Error(
      `${label}: NMSE ${c.nmse.toExponential(3)} (limit ${bound.nmse.toExponential(1)}), ` +
        `max |diff| ${c.maxAbs.toExponential(3)} (limit ${absLimit.toExponential(2)}) at element ${i}: got ${got[i]}, expected ${want[i]}`,
    );
  }
  return c;
}

/** Exact equality for integer outputs, with the first mismatch in the message. */
export function assertEqualInts(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  if (got.length !== want.length) throw new Error(`${label}: got ${got.length} values, expected ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new Error(`${label}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}
