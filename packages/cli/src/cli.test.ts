import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from './cli.js';
import { hasDefaultModel } from './model.js';
import { GGUF, runCli } from './test-helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'bitexit-cli-'));

/** A user-facing failure is exactly one line, prefixed, with no stack frame. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^bitexit: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('command line', () => {
  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('--help lists the commands', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['run', 'inspect', 'doctor', 'eval']) expect(r.stdout).toMatch(new RegExp(`\\b${c}\\b`));
  });

  it('run --help lists the contract flags', async () => {
    const r = await runCli(['run', '--help']);
    expect(r.code).toBe(0);
    for (const f of ['--model', '--tokenizer', '--prompt', '--max-tokens', '--temperature', '--top-k', '--top-p', '--min-p',
      '--repeat-penalty', '--seed', '--stop', '--context', '--chat', '--backend', '--json']) {
      expect(r.stdout).toContain(f);
    }
  });

  it('an unknown flag is a usage error (exit 2, one line)', async () => {
    const r = await runCli(['run', '--no-such-flag']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /unknown option '--no-such-flag'/);
    expect(r.stdout).toBe('');
  });

  it('an unknown command is a usage error', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /unknown command 'frobnicate'/);
  });

  it('no command at all prints help and exits 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: bitexit');
  });

  it.each([
    [['--max-tokens', '-3'], /--max-tokens.*positive integer/],
    [['--max-tokens', '2.5'], /positive integer/],
    [['--max-tokens', 'many'], /is not a number/],
    [['--temperature', '-1'], /--temperature.*>= 0/],
    [['--top-p', '1.5'], /between 0 and 1/],
    [['--min-p', 'x'], /is not a number/],
    [['--top-k', '-1'], /must be an integer >= 0/],
    [['--repeat-penalty', '0'], /> 0/],
    [['--seed', '-5'], /between 0 and 4294967295/],
    [['--context', '0'], /positive integer/],
    [['--backend', 'tpu'], /Allowed choices are auto, cpu, webgpu, cuda/],
  ])('run %j is a usage error', async (flags, pattern) => {
    const r = await runCli(['run', '--model', 'whatever.gguf', ...flags]);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, pattern);
  });

  it('eval ppl without --text is a usage error', async () => {
    const r = await runCli(['eval', 'ppl', '--model', 'm.gguf']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /--text/);
  });

  it('inspect without a model is a usage error', async () => {
    const r = await runCli(['inspect']);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, /inspect: missing the model/);
  });

  it('run without --model uses the embedded demo model, or says what to pass (exit 2)', async () => {
    const r = await runCli(['run', '--prompt', 'Once upon a time', '--max-tokens', '4', '--json', '--temperature', '0']);
    if (await hasDefaultModel()) {
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).token_ids).toHaveLength(4);
    } else {
      expect(r.code).toBe(2);
      expectOneLine(r.stderr, /pass --model PATH/);
    }
  });
});

describe('one spelling per flag in every command (the canonical names)', () => {
  const help = async (...cmd: string[]) => (await runCli([...cmd, '--help'])).stdout;

  it.each([
    [['run'], ['-m, --model', '--tokenizer', '-p, --prompt', '-n, --max-tokens', '-c, --context', '-t, --temperature', '--top-p', '--top-k', '-s, --seed', '--stop', '--backend', '--early-exit', '--exit-threshold', '--json']],
    [['eval', 'ppl'], ['-m, --model', '--tokenizer', '-c, --context', '--backend', '--json']],
    [['eval', 'exits'], ['-m, --model', '--tokenizer', '-n, --max-tokens', '--exit-threshold', '--backend', '--json']],
    [['train-exits'], ['-m, --model', '--tokenizer', '-n, --max-tokens', '-s, --seed', '--exit-threshold', '--backend', '--json']],
    [['quantize'], ['-m, --model', '--tokenizer', '--backend', '--json']],
    [['inspect'], ['-m, --model', '--tokenizer', '--json']],
    [['doctor'], ['--json']],
  ])('%j --help shows the canonical flags and no old spelling', async (cmd, flags) => {
    const text = await help(...cmd);
    for (const f of flags) expect(text, `${cmd.join(' ')} ${f}`).toContain(f);
    for (const old of ['--ctx', '--threshold ']) expect(text).not.toContain(old);
  });

  it.skipIf(!GGUF)('an old spelling still works, with one deprecation line on stderr', async () => {
    const text = join(tmp, 'ppl.txt');
    writeFileSync(text, 'Once upon a time, there was a little girl named Lily. She loved to play outside. '.repeat(8));
    const old = await runCli(['eval', 'ppl', '-m', GGUF!, '--text', text, '--ctx', '64', '--max-chunks', '1', '--json', '--backend', 'cpu']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toBe('bitexit: --ctx is deprecated, use --context\n');
    const canonical = await runCli(['eval', 'ppl', '-m', GGUF!, '--text', text, '--context', '64', '--max-chunks', '1', '--json', '--backend', 'cpu']);
    expect(canonical.stderr).toBe('');
    expect(JSON.parse(old.stdout)).toEqual(JSON.parse(canonical.stdout));
    expect(JSON.parse(old.stdout).ctx).toBe(64);
    const both = await runCli(['eval', 'ppl', '-m', GGUF!, '--text', text, '--ctx', '64', '--context', '64']);
    expect(both.code).toBe(2);
    expectOneLine(both.stderr, /--ctx is the old spelling of --context/);
  });

  it.skipIf(!GGUF)('inspect and quantize take the model as -m/--model too', async () => {
    const a = await runCli(['inspect', GGUF!, '--json']);
    const b = await runCli(['inspect', '-m', GGUF!, '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const q = await runCli(['quantize', '-m', GGUF!, '-o', join(tmp, 'q.gguf'), '--bits', '9']);
    expect(q.code).toBe(2);
    expectOneLine(q.stderr, /--bits 9 is more than/);
  });
});

describe('user errors print one line, never a stack', () => {
  it('missing model file: exit 1', async () => {
    const missing = join(tmp, 'nope.gguf');
    const r = await runCli(['run', '--model', missing, '--prompt', 'x']);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /nope\.gguf: model file not found/);
    expect(r.stdout).toBe('');
  });

  it.skipIf(!GGUF)('missing tokenizer file: exit 1', async () => {
    const r = await runCli(['inspect', GGUF!, '--tokenizer', join(tmp, 'tok-missing.bin')]);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /tok-missing\.bin/);
  });

  it('missing text file for eval ppl: exit 1', async () => {
    // The text is checked before the model is opened.
    const r = await runCli(['eval', 'ppl', '--model', join(tmp, 'any.gguf'), '--text', join(tmp, 'no-text.txt')]);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /no-text\.txt: text file not found/);
  });

  it.each(['garbage.gguf', 'garbage.bin', 'garbage'])('corrupt model %s: exit 1, one line naming the file', async (name) => {
    const p = join(tmp, name);
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(p, bytes);
    for (const args of [['run', '--model', p, '--prompt', 'x'], ['inspect', p]]) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(1);
      expectOneLine(r.stderr, new RegExp(name.replace('.', '\\.')));
    }
  });

  it('a truncated GGUF is reported as a format problem', async () => {
    if (!GGUF) return;
    const { readFileSync } = await import('node:fs');
    const p = join(tmp, 'truncated.gguf');
    writeFileSync(p, readFileSync(GGUF).subarray(0, 5000));
    const r = await runCli(['run', '--model', p]);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, /truncated\.gguf/);
  });

  it.for(['webgpu', 'cuda'])('--backend %s (package not installed): one line saying why', async (backend, ctx) => {
    const pkg = `@bitexit/backend-${backend}`;
    const installed = await import(/* @vite-ignore */ pkg).then(() => true, () => false);
    if (!GGUF || installed) return ctx.skip();
    const r = await runCli(['run', '--model', GGUF, '--backend', backend, '--prompt', 'x']);
    expect(r.code).toBe(1);
    expectOneLine(r.stderr, new RegExp(`backend '${backend}' is unavailable: not installed \\(npm install ${pkg}\\)`));
  });
});
