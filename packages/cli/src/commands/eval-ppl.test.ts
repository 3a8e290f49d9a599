import { describe, expect, it } from 'vitest';
import { DEV_TEXT, GGUF, runCli } from '../test-helpers.js';

/** llama.cpp's `llama-perplexity -c 256` on the dev text (F32 weights), from the fixtures' golden/README.md. */
const LLAMA_CPP_PPL = 4.7601;
const LLAMA_CPP_CHUNKS = 1047;
const LLAMA_CPP_TOKENS_SCORED = 132_969;
const SLOW = process.env.BITEXIT_SLOW_TESTS === '1';

describe.skipIf(!GGUF || !DEV_TEXT)('bitexit eval ppl on stories260K', () => {
  it('prints exactly {ppl, nll, tokens_scored, chunks, ctx} with --json', async () => {
    const r = await runCli(['eval', 'ppl', '--model', GGUF!, '--text', DEV_TEXT!, '--context', '256', '--max-chunks', '40', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!) as Record<string, number>;
    expect(Object.keys(out)).toEqual(['ppl', 'nll', 'tokens_scored', 'chunks', 'ctx']);
    expect(out.ctx).toBe(256);
    expect(out.chunks).toBe(40);
    expect(out.tokens_scored).toBe(40 * 127);
    expect(out.ppl).toBeCloseTo(Math.exp(out.nll!), 10);
    // The first 40 of the 1,047 chunks are easier than the average (about 3.8 against 4.76), but a
    // broken model or scorer lands far away (a uniform guess over 512 tokens scores 512).
    expect(out.ppl).toBeGreaterThan(3);
    expect(out.ppl).toBeLessThan(LLAMA_CPP_PPL * 1.2);
  });

  it('human output on stdout, timing on stderr, progress bar with --progress', async () => {
    const r = await runCli(['eval', 'ppl', '--model', GGUF!, '--text', DEV_TEXT!, '-c', '64', '--max-chunks', '3', '--progress', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ppl \d+\.\d{4} {2}nll \d+\.\d+ {2}tokens_scored 93 {2}chunks 3 {2}ctx 64\n$/);
    expect(r.stderr).toMatch(/perplexity .* 3\/3 chunks/);
    expect(r.stderr).toMatch(/backend cpu/);
  });

  it.skipIf(!SLOW)(
    'whole dev text at ctx 256 agrees with llama.cpp (4.7601) within 0.5% [BITEXIT_SLOW_TESTS=1]',
    async () => {
      const r = await runCli(['eval', 'ppl', '--model', GGUF!, '--text', DEV_TEXT!, '--context', '256', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as Record<string, number>;
      console.log(`eval ppl (full dev text, ctx 256): ${JSON.stringify(out)}`);
      expect(out.chunks).toBe(LLAMA_CPP_CHUNKS);
      expect(out.tokens_scored).toBe(LLAMA_CPP_TOKENS_SCORED);
      expect(Math.abs(out.ppl! / LLAMA_CPP_PPL - 1)).toBeLessThan(0.005);
    },
    600_000,
  );
});
