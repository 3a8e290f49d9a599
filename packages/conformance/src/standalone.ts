/**
 * A tiny stand-in for the parts of vitest the conformance suite uses
 * (describe, it, it.skip, beforeAll, afterAll, ctx.skip), so the GPU bundles
 * (backend-cuda's and backend-webgpu's `npm run gpu:bundle`) run the very same
 * suite with plain Node on a machine that has nothing but a GPU driver. The
 * bundler maps `vitest` to this file; `runRegistered` then runs what the suite
 * registered.
 */
type Fn = (ctx: { skip(note?: string): never }) => unknown;
type Item = { kind: 'test'; name: string; fn?: Fn; timeoutMs?: number } | { kind: 'suite'; node: Node };
interface Node {
  name: string;
  items: Item[];
  before: Fn[];
  after: Fn[];
}

const root: Node = { name: '', items: [], before: [], after: [] };
let current = root;

class SkipSignal extends Error {}

export function describe(name: string, body: () => void): void {
  const node: Node = { name, items: [], before: [], after: [] };
  current.items.push({ kind: 'suite', node });
  const prev = current;
  current = node;
  try {
    body();
  } finally {
    current = prev;
  }
}

export function it(name: string, fn: Fn, timeoutMs?: number): void {
  current.items.push({ kind: 'test', name, fn, timeoutMs });
}
it.skip = (name: string, _fn?: Fn): void => {
  current.items.push({ kind: 'test', name });
};
it.skipIf = (cond: boolean) => (cond ? it.skip : it);
export const test = it;

export function beforeAll(fn: Fn): void {
  current.before.push(fn);
}
export function afterAll(fn: Fn): void {
  current.after.push(fn);
}

export interface TestResult {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  ms: number;
  message?: string;
}

const ctx = {
  skip(note?: string): never {
    throw new SkipSignal(note ?? 'skipped');
  },
};

async function withTimeout(p: unknown, ms: number | undefined): Promise<void> {
  const limit = ms ?? 120_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve(p),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${limit} ms`)), limit);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function runNode(node: Node, prefix: string, out: TestResult[], log: (r: TestResult) => void): Promise<void> {
  const path = node.name ? `${prefix}${node.name} > ` : prefix;
  let hookError: string | undefined;
  for (const h of node.before) {
    try {
      await h(ctx);
    } catch (e) {
      hookError = `beforeAll failed: ${(e as Error).stack ?? e}`;
    }
  }
  for (const item of node.items) {
    if (item.kind === 'suite') {
      await runNode(item.node, path, out, log);
      continue;
    }
    const name = path + item.name;
    const t0 = performance.now();
    let r: TestResult;
    if (!item.fn) r = { name, status: 'skipped', ms: 0, message: 'it.skip' };
    else if (hookError) r = { name, status: 'failed', ms: 0, message: hookError };
    else {
      try {
        await withTimeout(item.fn(ctx), item.timeoutMs);
        r = { name, status: 'passed', ms: performance.now() - t0 };
      } catch (e) {
        if (e instanceof SkipSignal) r = { name, status: 'skipped', ms: performance.now() - t0, message: e.message };
        else r = { name, status: 'failed', ms: performance.now() - t0, message: String((e as Error)?.stack ?? e) };
      }
    }
    out.push(r);
    log(r);
  }
  for (const h of node.after) {
    try {
      await h(ctx);
    } catch (e) {
      console.error(`afterAll failed: ${(e as Error).message}`);
    }
  }
}

/** Runs every registered suite in declaration order. */
export async function runRegistered(log: (r: TestResult) => void): Promise<TestResult[]> {
  const out: TestResult[] = [];
  await runNode(root, '', out, log);
  return out;
}

export interface SuiteSummary {
  passed: number;
  failed: number;
  skipped: number;
  tests: TestResult[];
}

/** runRegistered with the counts: prints each failure's first lines and a one-line total. */
export async function runAndSummarize(log: (s: string) => void): Promise<SuiteSummary> {
  const tests = await runRegistered((r) => {
    if (r.status === 'failed') log(`FAIL ${r.name}\n  ${r.message?.split('\n').slice(0, 6).join('\n  ')}`);
  });
  const count = (status: TestResult['status']) => tests.filter((t) => t.status === status).length;
  const summary = { passed: count('passed'), failed: count('failed'), skipped: count('skipped'), tests };
  log(`conformance: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  return summary;
}

// The conformance suite only imports the functions above; a minimal expect for anything else.
export function expect(actual: unknown) {
  return {
    toBe(want: unknown) {
      if (actual !== want) throw new Error(`expected ${String(actual)} to be ${String(want)}`);
    },
    toEqual(want: unknown) {
      if (JSON.stringify(actual) !== JSON.stringify(want)) throw new Error(`expected ${JSON.stringify(actual)} to equal ${JSON.stringify(want)}`);
    },
  };
}
