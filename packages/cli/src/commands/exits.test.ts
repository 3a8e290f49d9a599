import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_TEXT, GGUF, runCli } from '../test-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bitexit-exits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!GGUF || !DEV_TEXT)('bitexit train-exits / eval exits on stories260K', () => {
  const train = join(dir, 'train.txt');
  const held = join(dir, 'eval.txt');
  const out = join(dir, 's.exits.gguf');
  beforeAll(() => {
    const paras = readFileSync(DEV_TEXT!, 'utf8').split(/\n\s*\n/);
    writeFileSync(held, paras.slice(0, 40).join('\n\n'));
    writeFileSync(train, paras.slice(40, 900).join('\n\n'));
  });

  it('train-exits writes the side file and prints per-layer precision/recall', async () => {
    const r = await runCli(['train-exits', '-m', GGUF!, '--text', train, '-n', '512', '--epochs', '6', '--seed', '3', '-o', out, '--no-progress', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    expect(r.stdout).toMatch(/layer {2}samples {2}exit-ok {2}held-out precision {2}recall/);
    expect(r.stdout.match(/^ +[0-3] +512 /gm)).toHaveLength(4);
    expect(r.stdout).toMatch(/offline layers: [\d, ]+/);
    // Deterministic for a seed: the same file again.
    const again = join(dir, 'again.gguf');
    const r2 = await runCli(['train-exits', '-m', GGUF!, '--text', train, '-n', '512', '--epochs', '6', '--seed', '3', '-o', again, '--json', '--backend', 'cpu']);
    expect(r2.code, r2.stderr).toBe(0);
    expect(readFileSync(again).equals(readFileSync(out))).toBe(true);
    const j = JSON.parse(r2.stdout) as { layers: unknown[]; offline_layers: number[] };
    expect(j.layers).toHaveLength(4);
    expect(j.offline_layers.every((l) => l >= 0 && l < 4)).toBe(true);
  });

  it('eval exits --simulate --json reports the simulated numbers and null for what needs real decoding', async () => {
    const r = await runCli(['eval', 'exits', '-m', GGUF!, '--exits', out, '--text', held, '-n', '300', '--json', '--simulate', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const key of ['layers_fraction', 'agreement_teacher_forced', 'ppl_full', 'ppl_exit', 'histogram']) expect(j).toHaveProperty(key);
    expect(j.agreement_free_running).toBeNull();
    expect(j.speedup).toBeNull();
    expect(j.note).toMatch(/simulation/);
    expect(j.layers_fraction as number).toBeGreaterThan(0.2);
    expect(j.layers_fraction as number).toBeLessThanOrEqual(1);
    expect(j.agreement_teacher_forced as number).toBeGreaterThan(0.85);
    expect((j.histogram as number[]).reduce((a, b) => a + b, 0)).toBe(j.tokens);
    expect(j.ppl_exit as number).toBeGreaterThanOrEqual((j.ppl_full as number) * 0.95);
    const human = await runCli(['eval', 'exits', '-m', GGUF!, '--exits', out, '--text', held, '-n', '100', '--exit-threshold', '0.5', '--exit-threshold', '0.9', '--simulate', '--backend', 'cpu']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/threshold 0\.5: [\d.]+ of 5 layers/);
    expect(human.stdout).toMatch(/threshold 0\.9: [\d.]+ of 5 layers/);
  });

  it('eval exits measures real exit-aware decoding: both KV policies, free-running agreement, speed', async () => {
    const r = await runCli(['eval', 'exits', '-m', GGUF!, '--exits', out, '--text', held, '-n', '120', '--prompts', '2', '--new-tokens', '12', '--json', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(rows.map((x) => x.kv_policy)).toEqual(['propagate', 'mask']);
    for (const j of rows) {
      for (const key of ['layers_fraction', 'agreement_teacher_forced', 'agreement_free_running', 'ppl_full', 'ppl_exit', 'speedup', 'predictor_time_share']) {
        expect(typeof j[key], key).toBe('number');
      }
      expect(j.layers_fraction as number).toBeGreaterThan(0.2);
      expect(j.layers_fraction as number).toBeLessThanOrEqual(1);
      expect(j.agreement_free_running as number).toBeGreaterThanOrEqual(j.agreement_free_running_prefix as number);
      expect(j.speedup as number).toBeGreaterThan(0);
      expect((j.histogram as number[]).reduce((a, b) => a + b, 0)).toBe(j.tokens);
    }
    // The same predictors drive `run --early-exit`, which reports layers per token.
    const run = await runCli(['run', '-m', GGUF!, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '16', '--json', '--early-exit', '--exits', out, '--backend', 'cpu']);
    expect(run.code, run.stderr).toBe(0);
    const stats = (JSON.parse(run.stdout) as { stats: { early_exit: { layers_per_token: number; histogram: number[]; kv_policy: string } } }).stats;
    expect(stats.early_exit.kv_policy).toBe('propagate');
    expect(stats.early_exit.layers_per_token).toBeGreaterThan(0);
    expect(stats.early_exit.layers_per_token).toBeLessThanOrEqual(5);
    const usage = await runCli(['run', '-m', GGUF!, '--exits', out, '--backend', 'cpu']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/need --early-exit/);
  });

  it('bad options are usage errors, missing files name the path', async () => {
    const bad = await runCli(['train-exits', '-m', GGUF!, '--text', train, '--layers', 'x', '-o', join(dir, 'x.gguf'), '--backend', 'cpu']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--layers/);
    const drafter = await runCli(['train-exits', '-m', GGUF!, '--text', train, '--drafter', 'eagle', '-o', join(dir, 'y.gguf'), '--backend', 'cpu']);
    expect(drafter.code).toBe(1);
    expect(drafter.stderr).toMatch(/no EAGLE head/);
    const missing = await runCli(['eval', 'exits', '-m', GGUF!, '--exits', join(dir, 'nope.gguf'), '--text', held, '--backend', 'cpu']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.gguf.*not found/);
    const notExits = await runCli(['eval', 'exits', '-m', GGUF!, '--exits', GGUF!, '--text', held, '--backend', 'cpu']);
    expect(notExits.code).toBe(1);
    expect(notExits.stderr).toMatch(/bitexit\.specee\.version/);
  });
});
