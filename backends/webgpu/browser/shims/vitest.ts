/**
 * A tiny stand-in for the parts of vitest that @bitexit/conformance uses
 * (describe, it, it.skip, beforeAll, afterAll, ctx.skip), so the very same
 * suite runs inside a browser page. The bundler aliases 'vitest' to this
 * module. Tests are recorded while the suite is defined and run by `runAll`.
 */

export type Outcome = 'pass' | 'fail' | 'skip';

export interface TestResult {
  /** Names of the enclosing describe blocks and the test, joined with ' > '. */
  name: string;
  outcome: Outcome;
  ms: number;
  /** Failure message or skip reason. */
  message?: string;
}

type Hook = () => unknown;
type Body = (ctx: { skip(note?: string): never }) => unknown;

interface Test {
  name: string;
  body: Body | null; // null: registered with it.skip
  timeoutMs: number;
}

interface Block {
  name: string;
  beforeAll: Hook[];
  afterAll: Hook[];
  children: (Block | Test)[];
}

const DEFAULT_TIMEOUT_MS = 60_000;

class SkipSignal extends Error {
  constructor(readonly note: string) {
    super(note);
  }
}

const root: Block = { name: '', beforeAll: [], afterAll: [], children: [] };
let current: Block = root;
let notHere: (name: string) => string | null = () => null;

/**
 * Tests this page leaves out, with the reason printed as the skip message
 * (like vitest's -t filter, but saying why). Return null to run the test.
 */
export function leaveOut(reason: (name: string) => string | null): void {
  notHere = reason;
}

export function describe(name: string, define: () => void): void {
  const block: Block = { name, beforeAll: [], afterAll: [], children: [] };
  current.children.push(block);
  const parent = current;
  current = block;
  try {
    define();
  } finally {
    current = parent;
  }
}

function addTest(name: string, body: Body | null, timeoutMs?: number): void {
  current.children.push({ name, body, timeoutMs: timeoutMs ?? DEFAULT_TIMEOUT_MS });
}

export const it = Object.assign((name: string, body: Body, timeoutMs?: number) => addTest(name, body, timeoutMs), {
  skip: (name: string, _body?: Body) => addTest(name, null),
});
export const test = it;

export function beforeAll(hook: Hook): void {
  current.beforeAll.push(hook);
}

export function afterAll(hook: Hook): void {
  current.afterAll.push(hook);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

function message(e: unknown): string {
  if (e instanceof Error) return e.stack && !e.stack.startsWith(e.message) ? `${e.message}\n${e.stack}` : (e.stack ?? e.message);
  return String(e);
}

/**
 * Runs every recorded test in definition order with vitest's hook semantics
 * (a failing beforeAll fails every test of its block), reporting each result
 * as it finishes.
 */
export async function runAll(report: (r: TestResult) => void): Promise<TestResult[]> {
  const results: TestResult[] = [];
  const emit = (r: TestResult) => {
    results.push(r);
    report(r);
  };
  const run = async (block: Block, path: string[], inherited: string | null): Promise<void> => {
    const names = block.name ? [...path, block.name] : path;
    let broken = inherited;
    if (broken === null) {
      for (const hook of block.beforeAll) {
        try {
          await withTimeout(Promise.resolve().then(hook), DEFAULT_TIMEOUT_MS, `beforeAll of '${names.join(' > ')}'`);
        } catch (e) {
          broken = `beforeAll failed: ${message(e)}`;
          break;
        }
      }
    }
    for (const child of block.children) {
      if ('children' in child) {
        await run(child, names, broken);
        continue;
      }
      const name = [...names, child.name].join(' > ');
      if (!child.body) {
        emit({ name, outcome: 'skip', ms: 0 });
        continue;
      }
      const left = notHere(name);
      if (left !== null) {
        emit({ name, outcome: 'skip', ms: 0, message: left });
        continue;
      }
      if (broken !== null) {
        emit({ name, outcome: 'fail', ms: 0, message: broken });
        continue;
      }
      const body = child.body;
      const t0 = performance.now();
      const ctx = {
        skip(note?: string): never {
          throw new SkipSignal(note ?? '');
        },
      };
      try {
        await withTimeout(Promise.resolve().then(() => body(ctx)), child.timeoutMs, `test '${name}'`);
        emit({ name, outcome: 'pass', ms: performance.now() - t0 });
      } catch (e) {
        const ms = performance.now() - t0;
        if (e instanceof SkipSignal) emit({ name, outcome: 'skip', ms, message: e.note });
        else emit({ name, outcome: 'fail', ms, message: message(e) });
      }
    }
    for (const hook of block.afterAll) {
      try {
        await withTimeout(Promise.resolve().then(hook), DEFAULT_TIMEOUT_MS, `afterAll of '${names.join(' > ')}'`);
      } catch (e) {
        emit({ name: `${names.join(' > ')} > afterAll`, outcome: 'fail', ms: 0, message: message(e) });
      }
    }
  };
  await run(root, [], null);
  return results;
}
