import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { GGUF, GOLDEN0, LLAMA2C_BIN, TOK512, runCli } from '../test-helpers.js';
import { openModel } from '@bitexit/engine';
import { defaultModelPath, hasDefaultModel } from '../model.js';
import type { RunJson } from './run.js';

const greedy = ['--json', '--temperature', '0', '--max-tokens', '64', '--backend', 'cpu'];

function parseOnlyJson(stdout: string): RunJson {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, 'exactly one JSON line on stdout').toHaveLength(1);
  return JSON.parse(lines[0]!) as RunJson;
}

describe.skipIf(!GGUF || !GOLDEN0)('bitexit run on stories260K', () => {
  const golden = GOLDEN0!;

  it('greedy --json on the GGUF reproduces the golden ids of llama2.c and llama.cpp', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--prompt', golden.prompt, ...greedy]);
    expect(r.code, r.stderr).toBe(0);
    const out = parseOnlyJson(r.stdout);
    expect(Object.keys(out).sort()).toEqual(['prompt_token_ids', 'stats', 'text', 'token_ids']);
    expect(out.prompt_token_ids).toEqual(golden.prompt_ids);
    expect(out.token_ids).toEqual(golden.generated_ids);
    // llama2.c prints the prompt, then the continuation.
    expect(golden.prompt + out.text).toBe(golden.text_llama2c.slice(0, (golden.prompt + out.text).length));
    expect(out.text.length).toBeGreaterThan(100);
    expect(out.stats.generated_tokens).toBe(64);
    expect(out.stats.prompt_tokens).toBe(golden.prompt_ids.length);
    expect(out.stats.finish_reason).toBe('length');
    expect(out.stats.backend).toBe('cpu');
    expect(out.stats.decode_tokens_per_second).toBeGreaterThan(0);
    expect(r.stderr).toBe('');
  });

  it.skipIf(!LLAMA2C_BIN || !TOK512)('greedy --json on the llama2.c checkpoint + tok512.bin gives the same ids', async () => {
    const r = await runCli(['run', '--model', LLAMA2C_BIN!, '--tokenizer', TOK512!, '--prompt', golden.prompt, ...greedy]);
    expect(r.code, r.stderr).toBe(0);
    const out = parseOnlyJson(r.stdout);
    expect(out.prompt_token_ids).toEqual(golden.prompt_ids);
    expect(out.token_ids).toEqual(golden.generated_ids);
  });

  it('streams prompt then continuation to stdout, stats to stderr', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--prompt', golden.prompt, '--temperature', '0', '--max-tokens', '64', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith(golden.prompt + ', there was a little girl named Lily.')).toBe(true);
    expect(golden.text_llama2c.startsWith(r.stdout.trimEnd())).toBe(true);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stderr).toMatch(/5 prompt tokens, 64 generated \(finish: length\), backend cpu/);
    expect(r.stderr).toMatch(/decode [\d.]+ tok\/s/);
  });

  it('--stop ends the text before the stop string', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--prompt', golden.prompt, ...greedy, '--stop', 'Lily']);
    expect(r.code, r.stderr).toBe(0);
    const out = parseOnlyJson(r.stdout);
    expect(out.text).toBe(', there was a little girl named ');
    expect(out.stats.finish_reason).toBe('stop');
  });

  it('sampling with a fixed seed is reproducible, and the seed is reported', async () => {
    const args = ['run', '--model', GGUF!, '--prompt', 'Lily wanted to', '--json', '--max-tokens', '24', '--seed', '42',
      '--temperature', '1', '--top-k', '40', '--top-p', '0.95', '--min-p', '0.01', '--repeat-penalty', '1.1'];
    const a = parseOnlyJson((await runCli(args)).stdout);
    const b = parseOnlyJson((await runCli(args)).stdout);
    expect(a.token_ids).toEqual(b.token_ids);
    expect(a.token_ids).toHaveLength(a.stats.generated_tokens);
    expect(a.stats.seed).toBe(42);
  });

  it('an empty prompt starts from BOS alone', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--json', '--temperature', '0', '--max-tokens', '8']);
    expect(r.code, r.stderr).toBe(0);
    const out = parseOnlyJson(r.stdout);
    expect(out.prompt_token_ids).toEqual([1]);
    expect(out.text).toMatch(/^Once upon a time/);
  });

  it('--chat on a model without a chat template is one line, exit 1', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--chat', '--prompt', 'hi']);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^bitexit: .*stories260K\.gguf: --chat needs a model whose GGUF carries a chat template .*run it without --chat/);
  });

  it('--context smaller than the prompt is one line, exit 1', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--context', '4', '--prompt', 'Once upon a time there was a dog']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bitexit: .*context/);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('--context above the trained context is refused with one line, exit 1', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--context', '100000', '--prompt', 'hi', '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^bitexit: a context of 100000 tokens is more than the 2048 .*stories260K\.gguf was trained on .*use 2048 or less/);
    expect(r.stdout).toBe('');
  });

  it('reads the prompt from piped standard input when no --prompt is given, and from stdin with --prompt -', async () => {
    const piped = (text: string, isTTY = false) => Object.assign(Readable.from([Buffer.from(text)]), { isTTY });
    const fromPipe = await runCli(['run', '--model', GGUF!, ...greedy], { stdin: piped(`${golden.prompt}\n`) });
    expect(fromPipe.code, fromPipe.stderr).toBe(0);
    const out = parseOnlyJson(fromPipe.stdout);
    expect(out.prompt_token_ids).toEqual(golden.prompt_ids);
    expect(out.token_ids).toEqual(golden.generated_ids);
    const dash = await runCli(['run', '--model', GGUF!, '-p', '-', ...greedy], { stdin: piped(golden.prompt, true) });
    expect(parseOnlyJson(dash.stdout).prompt_token_ids).toEqual(golden.prompt_ids);
    // A terminal on stdin is not read: the prompt stays empty (BOS only).
    const tty = await runCli(['run', '--model', GGUF!, ...greedy, '--max-tokens', '2'], { stdin: piped('ignored', true) });
    expect(parseOnlyJson(tty.stdout).prompt_token_ids).toEqual([1]);
    // --prompt wins over a pipe.
    const flag = await runCli(['run', '--model', GGUF!, '--prompt', golden.prompt, ...greedy], { stdin: piped('something else') });
    expect(parseOnlyJson(flag.stdout).prompt_token_ids).toEqual(golden.prompt_ids);
  });

  it.skipIf(!LLAMA2C_BIN)('a llama2.c checkpoint with no tokenizer beside it asks for --tokenizer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bitexit-l2c-'));
    const lone = join(dir, 'model.bin');
    copyFileSync(LLAMA2C_BIN!, lone); // a temp copy, alone in its folder
    try {
      const r = await runCli(['run', '--model', lone, '--prompt', 'x']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^bitexit: .*model\.bin.*tokenizer/);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an aborted signal (Ctrl-C) ends the run with exit code 130', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--json', '--max-tokens', '8'], { signal: AbortSignal.abort() });
    expect(r.code, r.stderr).toBe(130);
    const out = parseOnlyJson(r.stdout);
    expect(out.stats.finish_reason).toBe('abort');
    expect(out.token_ids).toEqual([]);
  });

  it('--progress draws the load bar on stderr (not on stdout)', async () => {
    const r = await runCli(['run', '--model', GGUF!, '--json', '--temperature', '0', '--max-tokens', '4', '--progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/loading .*100%/);
    parseOnlyJson(r.stdout);
  });
});

const DEMO = await hasDefaultModel();
if (!DEMO) console.warn('[bitexit] skipping the demo-model run tests: @bitexit/model-demo has no model file');

describe.skipIf(!DEMO)('bitexit run on the embedded demo model', () => {
  it('the default run never ends by filling the context (256 new tokens = the whole demo context)', async () => {
    // Seed 15 tells a story longer than the demo's 256-token context: with a fixed default of 256
    // new tokens it ran into the end of the KV cache ("finish: context").
    const r = await runCli(['run', '--prompt', 'Once upon a time', '--seed', '15', '--json', '--backend', 'cpu']);
    expect(r.code, r.stderr).toBe(0);
    const out = parseOnlyJson(r.stdout);
    expect(out.stats.finish_reason).not.toBe('context');
    expect(out.stats.prompt_tokens + out.stats.generated_tokens).toBeLessThanOrEqual(256);
  });
});

describe.skipIf(!DEMO)('bitexit run --chat on the embedded demo model', () => {
  it('chats when the demo model has a chat template, else says how to chat in one typed line (exit 1)', async () => {
    const source = await openModel(await defaultModelPath());
    const hasTemplate = Boolean(source.tokenizer?.chatTemplate);
    await source.close();
    const r = await runCli(['run', '--chat', '--prompt', 'Tell me a story.', '--backend', 'cpu', '--max-tokens', '8']);
    if (hasTemplate) {
      expect(r.code, r.stderr).toBe(0);
      return;
    }
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^bitexit: .*bitexit-demo\.gguf: --chat needs a model whose GGUF carries a chat template/);
    expect(r.stdout).toBe('');
  });
});
