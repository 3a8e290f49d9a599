import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openModel } from '@bitexit/engine';
import { DEV_TEXT, GGUF, runCli } from '../test-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'bitexit-quantize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(!GGUF || !DEV_TEXT)('bitexit quantize on stories260K', () => {
  it('prints exactly one JSON object with the agreed keys and writes a loadable bx GGUF', async () => {
    const out = join(dir, 'q.gguf');
    const r = await runCli(['quantize', GGUF!, '-o', out, '--bits', '3.3', '--calib', DEV_TEXT!, '--calib-tokens', '256', '--sensitivity', 'relative', '--finetune', '1', '--finetune-tokens', '512', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['bits_per_weight', 'width_fractions', 'outliers', 'per_tensor', 'seconds']);
    const bpw = j.bits_per_weight as { matrices: number; file: number };
    expect(bpw.matrices).toBeLessThanOrEqual(3.3);
    expect(bpw.matrices).toBeGreaterThan(3.0);
    const wf = j.width_fractions as Record<string, number>;
    expect(wf['2']! + wf['3']! + wf['4']!).toBeCloseTo(1, 9);
    const src = await openModel(out);
    try {
      expect(src.tensors.get('blk.0.attn_q.weight')!.dtype).toBe('bx');
      expect(src.tensors.get('blk.0.attn_norm.weight')!.dtype).toBe('f32');
      expect(src.tensors.get('token_embd.weight')!.dtype).toBe('q8_0');
      expect(src.tokenizer).not.toBeNull();
    } finally {
      await src.close();
    }
  });

  it('human output names the policy; bad options are usage errors', async () => {
    const out = join(dir, 'h.gguf');
    const r = await runCli(['quantize', GGUF!, '-o', out, '--bits', '4', '--no-clip', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/uncalibrated \(H = I\)/);
    expect(r.stdout).toMatch(/norms f32/);
    expect((await runCli(['quantize', GGUF!, '-o', out, '--widths', '2,5'])).code).toBe(2);
    const low = await runCli(['quantize', GGUF!, '-o', out, '--bits', '1']);
    expect(low.code).toBe(2);
    expect(low.stderr).toMatch(/below the smallest/);
  });

  it('--bits above what the format can spend is a usage error that says the maximum (not a silent clamp)', async () => {
    const r = await runCli(['quantize', GGUF!, '-o', join(dir, 'x.gguf'), '--bits', '9']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^bitexit: --bits 9 is more than this model can spend .* the maximum is 4\.\d+ bits per weight/);
  });
});
