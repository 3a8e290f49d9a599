// The conformance suite in a real browser: Debian's chromium, headless, WebGPU
// on SwiftShader (no shader-f16: the f32 path), driven by playwright-core.
// The harness lives in ../browser (see its README). The same suite also runs
// on the CPU backend in the page first, which proves the harness itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturesDir } from '@bitexit/format/node';
import { chromiumMissingReason } from '../browser/chromium.js';
import { formatResult, runInChromium, type EntryName, type PageRun } from '../browser/harness.js';

const missing = chromiumMissingReason();
if (missing) console.warn(`[browser] skipping the chromium conformance run: ${missing}`);
const fixtures = fixturesDir();
if (!fixtures) console.warn('[browser] fixtures folder not found (set BITEXIT_FIXTURES): whole-model checks skip in the page');

// BITEXIT_BROWSER_ENTRIES=adapter (comma-separated) runs a subset while iterating.
const ENTRIES = (process.env.BITEXIT_BROWSER_ENTRIES?.split(',') ?? ['adapter', 'cpu', 'webgpu', 'fallback']) as EntryName[];
const notRun = (e: EntryName) => !ENTRIES.includes(e);

describe.skipIf(missing !== null)('conformance in chromium (WebGPU on SwiftShader)', () => {
  let runs: Map<EntryName, PageRun>;
  const t0 = performance.now();

  beforeAll(async () => {
    runs = await runInChromium({
      entries: ENTRIES,
      fixturesDir: fixtures,
      timeoutMs: 240_000,
      // Lines a failing run would need: page errors and the suite's warnings.
      onLine: (line) => {
        if (/page error|console\.(error|warning)/.test(line)) console.warn(line);
      },
    });
  }, 480_000);

  afterAll(() => {
    console.log(`[browser] chromium runs took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });

  const summary = (entry: EntryName, all: boolean) => {
    const run = runs.get(entry)!;
    const count = (o: string) => run.results.filter((r) => r.outcome === o).length;
    const head = `[browser:${entry}] ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped in ${(run.ms / 1000).toFixed(1)} s`;
    const lines = run.results.filter((r) => all || r.outcome !== 'pass').map(formatResult);
    console.log([head, ...lines].join('\n'));
    return run;
  };

  const noFailures = (run: PageRun) => {
    const failed = run.results.filter((r) => r.outcome === 'fail').map((r) => `${r.name}: ${r.message?.split('\n')[0]}`);
    expect(failed).toEqual([]);
    expect(run.results.length).toBeGreaterThan(0);
  };

  it.skipIf(notRun('adapter'))('chromium offers a WebGPU adapter', () => {
    const run = summary('adapter', true);
    for (const l of run.log) console.log(`[browser:adapter] ${l}`);
    noFailures(run);
  });

  it.skipIf(notRun('cpu'))('the harness runs the suite on the CPU backend in the page', () => {
    const run = summary('cpu', false);
    noFailures(run);
    // The CPU backend must pass everything but its two self-comparisons: anything else means the harness is broken.
    expect(run.results.filter((r) => r.outcome === 'pass').length).toBeGreaterThan(100);
  });

  it.skipIf(notRun('webgpu'))('the WebGPU backend passes the conformance suite in chromium', () => {
    noFailures(summary('webgpu', true));
  });

  it.skipIf(notRun('fallback'))('the WebGPU backend passes the op checks with subgroups disabled', () => {
    noFailures(summary('fallback', false));
  });
});
