import type { Drafter } from './types.js';
import { SpeceeFileError, SpeceeOptionError } from '../errors.js';

export interface NgramOptions {
  /** Longest n-gram (context of n-1 tokens). Default 4. */
  maxOrder?: number;
  /** Continuations kept per context. Default 8. */
  keepPerContext?: number;
  /** Contexts of 2+ tokens seen fewer times than this are dropped. Default 2. */
  minContextCount?: number;
  /** Shortest suffix of the current context looked up in the context itself. Default 2. */
  minSuffixMatch?: number;
  /** Longest suffix looked up in the context. Default 8. */
  maxSuffixMatch?: number;
}

const MAGIC = 0x474e5842; // 'BXNG' little-endian
const VERSION = 1;

/** Continuations of one context, most frequent first. */
interface Entry {
  tokens: Int32Array;
  counts: Int32Array;
}

/**
 * Training-free drafter: (1) suffix match inside the current context (the
 * longest suffix of 2..8 tokens that occurred before; the tokens that
 * followed its most recent occurrences), then (2) an n-gram table (orders
 * maxOrder..2) learned from calibration text, then (3) unigram frequency.
 * Duplicates are skipped, so k distinct ids come back whenever the unigram
 * table has k entries.
 */
export class NgramDrafter implements Drafter {
  readonly kind = 'ngram';
  readonly needsFeature = false;
  readonly maxOrder: number;
  private readonly minSuffix: number;
  private readonly maxSuffix: number;

  private constructor(
    /** Key: context tokens joined by ',' ('' for the unigram entry). */
    private readonly table: Map<string, Entry>,
    maxOrder: number,
    options: NgramOptions = {},
  ) {
    this.maxOrder = maxOrder;
    this.minSuffix = options.minSuffixMatch ?? 2;
    this.maxSuffix = options.maxSuffixMatch ?? 8;
  }

  /** Learns the table from token sequences (each sequence counted separately: no n-gram spans two). */
  static train(sequences: readonly (readonly number[])[], options: NgramOptions = {}): NgramDrafter {
    const maxOrder = options.maxOrder ?? 4;
    const keep = options.keepPerContext ?? 8;
    const minCount = options.minContextCount ?? 2;
    if (!Number.isInteger(maxOrder) || maxOrder < 1 || maxOrder > 8) throw new SpeceeOptionError(`n-gram maxOrder must be 1..8, got ${maxOrder}`);
    const counts = new Map<string, Map<number, number>>();
    for (const seq of sequences) {
      for (let t = 0; t < seq.length; t++) {
        for (let n = 1; n <= maxOrder && n - 1 <= t; n++) {
          const key = seq.slice(t - n + 1, t).join(',');
          let m = counts.get(key);
          if (!m) counts.set(key, (m = new Map()));
          m.set(seq[t]!, (m.get(seq[t]!) ?? 0) + 1);
        }
      }
    }
    const table = new Map<string, Entry>();
    for (const [key, m] of counts) {
      let total = 0;
      for (const c of m.values()) total += c;
      const order = key === '' ? 1 : key.split(',').length + 1;
      if (order >= 3 && total < minCount) continue;
      const sorted = [...m.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, key === '' ? Math.max(keep, 64) : keep);
      table.set(key, { tokens: Int32Array.from(sorted, (e) => e[0]), counts: Int32Array.from(sorted, (e) => e[1]) });
    }
    return new NgramDrafter(table, maxOrder, options);
  }

  get contexts(): number {
    return this.table.size;
  }

  async propose(context: readonly number[], k: number): Promise<number[]> {
    return this.proposeSync(context, k);
  }

  proposeSync(context: readonly number[], k: number): number[] {
    const out: number[] = [];
    const seen = new Set<number>();
    const add = (id: number) => {
      if (out.length < k && !seen.has(id)) {
        seen.add(id);
        out.push(id);
      }
    };
    // 1. Suffix match in the context itself, longest suffix first, most recent occurrence first.
    const n = context.length;
    for (let len = Math.min(this.maxSuffix, n - 1); len >= this.minSuffix && out.length < k; len--) {
      for (let end = n - 2; end >= len - 1 && out.length < k; end--) {
        let match = true;
        for (let j = 0; j < len; j++) {
          if (context[end - j] !== context[n - 1 - j]) {
            match = false;
            break;
          }
        }
        if (match) add(context[end + 1]!);
      }
    }
    // 2. n-gram table, highest order first; 3. unigram.
    for (let order = Math.min(this.maxOrder, n + 1); order >= 1 && out.length < k; order--) {
      const key = order === 1 ? '' : context.slice(n - order + 1).join(',');
      const e = this.table.get(key);
      if (e) for (const id of e.tokens) add(id);
    }
    return out;
  }

  /**
   * Compact little-endian blob: [magic, version, maxOrder, entries, then per
   * entry: contextLength, context ids…, m, (id, count)×m].
   */
  serialize(): Int32Array {
    const parts: number[] = [MAGIC, VERSION, this.maxOrder, this.table.size];
    for (const [key, e] of this.table) {
      const ctx = key === '' ? [] : key.split(',').map(Number);
      parts.push(ctx.length, ...ctx, e.tokens.length);
      for (let i = 0; i < e.tokens.length; i++) parts.push(e.tokens[i]!, e.counts[i]!);
    }
    return Int32Array.from(parts);
  }

  /** Parses a blob from `serialize`; every length is checked against the blob's size. */
  static deserialize(blob: Int32Array | readonly number[], file = 'n-gram table', options: NgramOptions = {}): NgramDrafter {
    const fail = (p: string): never => {
      throw new SpeceeFileError(file, `n-gram table ${p}`);
    };
    let p = 0;
    const next = () => (p < blob.length ? blob[p++]! : fail('is truncated'));
    if (next() !== MAGIC) fail('has a wrong magic number');
    const version = next();
    if (version !== VERSION) fail(`has version ${version}, expected ${VERSION}`);
    const maxOrder = next();
    if (maxOrder < 1 || maxOrder > 8) fail(`has maxOrder ${maxOrder}`);
    const entries = next();
    if (entries < 0 || entries > blob.length) fail(`claims ${entries} entries`);
    const table = new Map<string, Entry>();
    for (let e = 0; e < entries; e++) {
      const cl = next();
      if (cl < 0 || cl >= maxOrder) fail(`has a context of ${cl} tokens`);
      const ctx: number[] = [];
      for (let i = 0; i < cl; i++) ctx.push(next());
      const m = next();
      if (m < 0 || p + 2 * m > blob.length) fail('is truncated');
      const tokens = new Int32Array(m);
      const counts = new Int32Array(m);
      for (let i = 0; i < m; i++) {
        tokens[i] = next();
        counts[i] = next();
      }
      table.set(ctx.join(','), { tokens, counts });
    }
    return new NgramDrafter(table, maxOrder, options);
  }
}
