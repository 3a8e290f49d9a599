import { InvalidArgumentError } from 'commander';

/** Commander argument parsers that reject bad numbers with a usage error (exit 2). */

function parseNumber(value: string): number {
  const s = value.trim();
  if (s === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)) throw new InvalidArgumentError('It is not a number.');
  return Number(s);
}

export function positiveInt(value: string): number {
  const n = parseNumber(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('It must be a positive integer.');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = parseNumber(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('It must be an integer >= 0.');
  return n;
}

export function nonNegativeFloat(value: string): number {
  const n = parseNumber(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('It must be a number >= 0.');
  return n;
}

export function positiveFloat(value: string): number {
  const n = parseNumber(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('It must be a number > 0.');
  return n;
}

/** A probability in [0, 1]. */
export function unitInterval(value: string): number {
  const n = parseNumber(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('It must be a number between 0 and 1.');
  return n;
}

/** A seed: integer in [0, 2^32). */
export function seed(value: string): number {
  const n = parseNumber(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('It must be an integer between 0 and 4294967295.');
  return n;
}

/** For repeatable options (--stop a --stop b). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const BACKEND_CHOICES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;

/** An old spelling kept working (hidden from --help) until it is removed: `--ctx` → `--context`. */
export interface DeprecatedAlias {
  /** The old flag as typed, e.g. '--ctx'. */
  flag: string;
  /** The canonical flag, e.g. '--context'. */
  replacement: string;
}

/** commander's attribute name of a long flag: '--exit-threshold' → 'exitThreshold'. */
export function attributeName(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Moves the value of each deprecated alias that was used to its canonical
 * option and says so once on stderr; both spellings at once is a usage error.
 */
export function resolveDeprecatedAliases<T extends object>(
  opts: T,
  aliases: readonly DeprecatedAlias[],
  stderr: { write(s: string): unknown },
  fail: (message: string) => never,
): T {
  const out = { ...opts } as Record<string, unknown>;
  for (const a of aliases) {
    const from = attributeName(a.flag);
    const to = attributeName(a.replacement);
    if (out[from] === undefined) continue;
    if (out[to] !== undefined) fail(`${a.flag} is the old spelling of ${a.replacement}: give ${a.replacement} only`);
    stderr.write(`bitexit: ${a.flag} is deprecated, use ${a.replacement}\n`);
    out[to] = out[from];
    delete out[from];
  }
  return out as T;
}
