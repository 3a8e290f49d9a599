// The CI-sized fuzz campaign: every target of `npm run fuzz` for a few thousand
// cases through the real harness (bundled worker, watchdog, heap limit), and
// the harness itself checked on targets that hang, exhaust memory or throw.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleFuzzer } from '../../scripts/fuzz-bundle.mjs';
import { formatRow, runCampaign, TABLE_HEADER, type CampaignOptions } from './campaign.js';
import { TARGETS } from './targets.js';

/** Cases per target: the JSON targets run ~200 cases/s, the others thousands. */
const CI_CASES: Record<string, number> = { 'tokenizer-json': 1000, 'gguf-vocab': 1000 };
const casesOf = (name: string) => CI_CASES[name] ?? 3000;
let dir = '';
let options: CampaignOptions;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bitexit-fuzz-'));
  const workerDir = await bundleFuzzer(join(dir, 'bundle'));
  options = {
    targets: [],
    seed: 18,
    cases: 0,
    seconds: 120,
    timeoutMs: 10_000,
    slowMs: 1000,
    heapMb: 512,
    outDir: join(dir, 'findings'),
    workerPath: join(workerDir, 'worker.js'),
  };
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('fuzz campaign (CI size)', () => {
  it.each(TARGETS.map((t) => t.name))('%s: a few thousand cases, no untyped error, no slow case, no memory blow-up', async (name) => {
    const [r] = await runCampaign({ ...options, targets: [name], cases: casesOf(name) });
    console.log(`${TABLE_HEADER}\n${formatRow(r!)}${r!.notes.length ? `\nnotes: ${r!.notes.join('; ')}` : ''}`);
    expect(r!.findings).toEqual([]);
    expect(r!.cases).toBe(casesOf(name));
    expect(r!.ok + r!.typed).toBe(casesOf(name));
  }, 120_000);
});

describe('fuzz harness', () => {
  it('a case that never ends is killed, saved, and the campaign goes on', async () => {
    const [r] = await runCampaign({ ...options, targets: ['selftest-hang'], cases: 600, timeoutMs: 300 });
    expect(r!.hangs).toBeGreaterThan(0);
    expect(r!.cases).toBe(600);
    for (const f of r!.findings) {
      expect(f.kind).toBe('hang');
      expect(existsSync(f.file!)).toBe(true);
    }
  }, 60_000);

  it('a case that exhausts the heap is stopped by the heap limit, saved, and the campaign goes on', async () => {
    const [r] = await runCampaign({ ...options, targets: ['selftest-oom'], cases: 600, heapMb: 64 });
    expect(r!.oom).toBeGreaterThan(0);
    expect(r!.cases).toBe(600);
    expect(r!.findings.every((f) => f.kind === 'oom' && existsSync(f.file!))).toBe(true);
  }, 60_000);

  it('untyped errors are counted and saved', async () => {
    const [r] = await runCampaign({ ...options, targets: ['selftest-untyped'], cases: 600 });
    expect(r!.untyped).toBeGreaterThan(5);
    expect(r!.untyped + r!.ok).toBe(600);
    expect(r!.findings[0]!.detail).toMatch(/TypeError/);
    expect(existsSync(r!.findings[0]!.file!)).toBe(true);
  }, 60_000);
});
