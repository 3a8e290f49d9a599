import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEV_TEXT, GGUF, GOLDEN0 } from './test-helpers.js';

const cliDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(cliDir, 'dist', 'bin.js');
// The binary runs on the built dist/ of the CLI and of every workspace package it depends on.
const rootModules = join(cliDir, '..', '..', 'node_modules');
const cliPkg = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
const needed = [bin];
for (const dep of Object.keys(cliPkg.dependencies).filter((d) => d.startsWith('@bitexit/'))) {
  const pkgJson = join(rootModules, dep, 'package.json');
  const entry = existsSync(pkgJson)
    ? (JSON.parse(readFileSync(pkgJson, 'utf8')) as { exports: { '.': { import: string } } }).exports['.'].import
    : 'package.json';
  needed.push(join(rootModules, dep, entry));
}
const missing = needed.filter((p) => !existsSync(p));
const built = missing.length === 0;
if (!built) console.warn(`[bitexit] skipping the binary test: not built: ${missing.join(', ')} (run \`npm run build\` at the root)`);

describe.skipIf(!built)('the built `bitexit` binary (dist/bin.js)', () => {
  it('is executable and starts with a node shebang', () => {
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
  });

  it.skipIf(!GGUF || !GOLDEN0)('node dist/bin.js run --json reproduces the golden ids and exits 0', () => {
    const r = spawnSync(
      process.execPath,
      [bin, 'run', '--model', GGUF!, '--prompt', GOLDEN0!.prompt, '--json', '--temperature', '0', '--max-tokens', '64'],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { prompt_token_ids: number[]; token_ids: number[] };
    expect(out.prompt_token_ids).toEqual(GOLDEN0!.prompt_ids);
    expect(out.token_ids).toEqual(GOLDEN0!.generated_ids);
  });

  it('the committed launcher bin/bitexit.js (what npm links as `bitexit`) runs dist/bin.js', () => {
    const launcher = join(dirname(bin), '..', 'bin', 'bitexit.js');
    expect(statSync(launcher).mode & 0o111).not.toBe(0);
    const r = spawnSync(process.execPath, [launcher, '--version'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  // Dawn (the `webgpu` package) writes warnings straight to stderr when it enumerates adapters
  // ("maxDynamicUniformBuffersPerPipelineLayout artificially reduced…" on lavapipe, "Couldn't load
  // Vulkan" without a driver). When `auto` ends up on the CPU, none of that may reach the user.
  it('run, doctor and eval ppl with --backend auto print nothing from Dawn on stderr', () => {
    const spawn = (args: string[]) =>
      spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
    const run = spawn(['run', '--prompt', 'hi', '--max-tokens', '4', '--temperature', '0', '--no-progress']);
    expect(run.status, run.stderr).toBe(0);
    const foreign = (stderr: string) => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('--- ') && !l.startsWith('bitexit: '));
    if (/backend cpu/.test(run.stderr)) expect(foreign(run.stderr)).toEqual([]);
    const doctor = spawn(['doctor']);
    expect(doctor.stderr).toBe('');
    if (DEV_TEXT) {
      const ppl = spawn(['eval', 'ppl', '--text', DEV_TEXT, '--max-chunks', '1', '--no-progress']);
      expect(ppl.status, ppl.stderr).toBe(0);
      if (/backend cpu/.test(ppl.stderr)) expect(foreign(ppl.stderr)).toEqual([]);
    }
  });

  it.skipIf(!GGUF || !GOLDEN0)('`echo PROMPT | bitexit run` takes the piped prompt', () => {
    const r = spawnSync(process.execPath, [bin, 'run', '--model', GGUF!, '--temperature', '0', '--max-tokens', '8', '--backend', 'cpu'], {
      encoding: 'utf8',
      timeout: 60_000,
      input: `${GOLDEN0!.prompt}\n`,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith(GOLDEN0!.prompt + ', there was')).toBe(true);
    expect(r.stderr).toMatch(new RegExp(`${GOLDEN0!.prompt_ids.length} prompt tokens`));
  });

  it.skipIf(!GGUF)('node dist/bin.js chat answers the message piped to stdin and exits 0', () => {
    const template = "{{ bos_token }}{% for m in messages %}{{ m.content }}\n{% endfor %}";
    const dir = mkdtempSync(join(tmpdir(), 'bitexit-bin-chat-'));
    try {
      writeFileSync(join(dir, 'chat.jinja'), template);
      const r = spawnSync(process.execPath, [bin, 'chat', '--model', GGUF!, '--chat-template', join(dir, 'chat.jinja'), '-t', '0', '-n', '12'], {
        encoding: 'utf8',
        input: 'Once upon a time\n',
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim().length).toBeGreaterThan(5);
      expect(r.stdout.endsWith('\n')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad flag exits 2 with one line', () => {
    const r = spawnSync(process.execPath, [bin, 'run', '--max-tokens', '-3'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
