/**
 * `npm run fuzz` (packages/tokenizer): the seeded mutation fuzzer of every
 * parser and of encode/decode. See the package README for flags and results.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isBitexitError } from '@bitexit/format';
import { formatRow, runCampaign, TABLE_HEADER } from './campaign.js';
import { findTarget, TARGETS } from './targets.js';

const USAGE = `usage: npm run fuzz -- [options]
  --targets a,b        targets (default: all): ${TARGETS.map((t) => t.name).join(', ')}
  --cases N            cases per target (default 2000)
  --seconds S          time budget per target in seconds (default: none)
  --seed S             campaign seed (default 1); case i of a target is the same for the same seed
  --timeout-ms MS      kill a case running longer (default 10000)
  --slow-ms MS         a case slower than this twice is a finding (default 1000)
  --heap-mb MB         worker heap limit (default 768)
  --out DIR            reproducers (default fuzz-findings/)
  --replay FILE        run one saved reproducer (its folder names the target) and print the outcome
  --list               list the targets`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      targets: { type: 'string' },
      cases: { type: 'string', default: '2000' },
      seconds: { type: 'string' },
      seed: { type: 'string', default: '1' },
      'timeout-ms': { type: 'string', default: '10000' },
      'slow-ms': { type: 'string', default: '1000' },
      'heap-mb': { type: 'string', default: '768' },
      out: { type: 'string', default: 'fuzz-findings' },
      replay: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(20)} ${t.what}`);
    return 0;
  }
  if (values.replay) {
    const file = resolve(values.replay);
    const target = findTarget(basename(dirname(file)));
    const state = await target.setup();
    const t0 = performance.now();
    try {
      await state.run(new Uint8Array(readFileSync(file)));
      console.log(`${target.name}: ok (${(performance.now() - t0).toFixed(1)} ms)`);
      return 0;
    } catch (e) {
      const typed = isBitexitError(e);
      console.log(`${target.name}: ${typed ? 'typed error' : 'UNTYPED ERROR'} after ${(performance.now() - t0).toFixed(1)} ms`);
      console.log(typed ? (e as Error).message : String((e as Error)?.stack ?? e));
      return typed ? 0 : 1;
    }
  }
  const num = (name: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got '${v}'`);
    return n;
  };
  const targets = values.targets ? values.targets.split(',').map((s) => findTarget(s.trim()).name) : TARGETS.map((t) => t.name);
  const workerPath = join(dirname(fileURLToPath(import.meta.url)), 'worker.js');
  console.log(TABLE_HEADER);
  const results = await runCampaign({
    targets,
    seed: num('seed', values.seed, 1),
    cases: num('cases', values.cases, 2000),
    seconds: num('seconds', values.seconds, Number.POSITIVE_INFINITY),
    timeoutMs: num('timeout-ms', values['timeout-ms'], 10000),
    slowMs: num('slow-ms', values['slow-ms'], 1000),
    heapMb: num('heap-mb', values['heap-mb'], 768),
    outDir: resolve(values.out!),
    workerPath,
    log: (l) => console.log(l),
  });
  const bad = results.reduce((a, r) => a + r.untyped + r.slow + r.memory, 0);
  for (const r of results) for (const n of r.notes) console.log(`note (${r.target}): ${n}`);
  console.log(bad === 0 ? 'no findings' : `${bad} findings; reproducers in ${resolve(values.out!)} (replay: npm run fuzz -- --replay FILE)`);
  void formatRow;
  return bad === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(String((e as Error)?.message ?? e));
    process.exit(2);
  },
);
