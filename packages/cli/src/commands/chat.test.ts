import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import { CapturedStream, type InputStream } from '../io.js';
import { hasDefaultModel } from '../model.js';
import { GGUF, runCli } from '../test-helpers.js';

// The demo model carries no chat template yet: the tests pass a plain-text one.
const TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n" +
  "{% elif m.role == 'user' %}Q: {{ m.content }}\n{% else %}A:{{ m.content }}\n{% endif %}{% endfor %}" +
  '{% if add_generation_prompt %}A:{% endif %}';

const dir = mkdtempSync(join(tmpdir(), 'bitexit-chat-'));
const templateFile = join(dir, 'chat.jinja');
writeFileSync(templateFile, TEMPLATE);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const demo = await hasDefaultModel();
if (!demo) console.warn('[bitexit] skipping bitexit chat tests on the demo model: @bitexit/model-demo is not installed');

const GREEDY = ['--chat-template', templateFile, '--temperature', '0', '--backend', 'cpu'];

function pipedStdin(text: string): InputStream {
  return Readable.from([Buffer.from(text)]);
}

async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The REPL on a pseudo-terminal: a TTY-flagged stdin fed keystrokes, readline in terminal mode. */
function startRepl(args: string[]) {
  const stdin = Object.assign(new PassThrough(), { isTTY: true });
  const stdout = new CapturedStream(true);
  const stderr = new CapturedStream(false);
  const done = main(['chat', ...args], { stdin, stdout, stderr, env: {} });
  return { stdin, stdout, stderr, done, type: (s: string) => stdin.write(s) };
}

describe.skipIf(!demo)('bitexit chat on the demo model', () => {
  let oneShotAnswer = '';

  it('one-shot: piped stdin is the user message; the answer goes to stdout and the command exits', async () => {
    const r = await runCli(['chat', ...GREEDY, '-n', '24'], { stdin: pipedStdin('Tell me a story about a cat.\n') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    oneShotAnswer = r.stdout.trim();
    expect(oneShotAnswer.length).toBeGreaterThan(10);
    // Deterministic with temperature 0; --system changes the prompt and so the answer's context.
    const again = await runCli(['chat', ...GREEDY, '-n', '24'], { stdin: pipedStdin('Tell me a story about a cat.') });
    expect(again.stdout.trim()).toBe(oneShotAnswer);
  });

  it('one-shot errors: empty stdin, a model without a chat template, a missing template file', async () => {
    const empty = await runCli(['chat', ...GREEDY], { stdin: pipedStdin('  \n') });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/no message on stdin/);
    const noTemplate = await runCli(['chat', '--backend', 'cpu'], { stdin: pipedStdin('Hi') });
    expect(noTemplate.code).toBe(2);
    expect(noTemplate.stderr).toMatch(/no chat template: pass one with --chat-template FILE/);
    expect(noTemplate.stdout).toBe('');
    const missing = await runCli(['chat', '--chat-template', join(dir, 'nope.jinja')], { stdin: pipedStdin('Hi') });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.jinja: chat template file not found/);
    const badTemplate = join(dir, 'bad.jinja');
    writeFileSync(badTemplate, '{% for m in messages %}');
    const bad = await runCli(['chat', '--chat-template', badTemplate, '--backend', 'cpu'], { stdin: pipedStdin('Hi') });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^bitexit: chat template: /);
  });

  it('REPL: answers stream, /reset forgets, unknown commands get help, /exit leaves', async () => {
    const repl = startRepl([...GREEDY, '-n', '24']);
    await waitFor('the first prompt', () => repl.stdout.text.includes('> '));
    expect(repl.stderr.text).toMatch(/\/reset.*\/exit/);
    repl.type('Tell me a story about a cat.\r');
    await waitFor('the first answer', () => repl.stdout.text.split('> ').length >= 3);
    expect(repl.stdout.text).toContain(oneShotAnswer); // same conversation start, same greedy answer
    repl.type('And then?\r');
    await waitFor('the second answer', () => repl.stdout.text.split('> ').length >= 4);
    repl.type('/reset\r');
    await waitFor('the reset', () => repl.stdout.text.includes('(conversation cleared)'));
    const mark = repl.stdout.text.length;
    repl.type('Tell me a story about a cat.\r');
    // The conversation really started over: the same greedy answer as the first time.
    await waitFor('the answer after reset', () => repl.stdout.text.slice(mark).includes(oneShotAnswer), 15_000);
    repl.type('/nope\r');
    await waitFor('the help', () => repl.stdout.text.includes('unknown command /nope'));
    repl.type('/exit\r');
    expect(await repl.done).toBe(0);
  });

  it('REPL: Ctrl-C stops an answer and a second Ctrl-C exits; Ctrl-D exits', async () => {
    const repl = startRepl([...GREEDY, '-n', '4000', '-c', '256']);
    await waitFor('the first prompt', () => repl.stdout.text.includes('> '));
    repl.type('Tell me a long story.\r');
    const start = repl.stdout.text.length;
    await waitFor('the answer to start', () => /\w{3}/.test(repl.stdout.text.slice(start + 'Tell me a long story.'.length)));
    repl.type('\x03');
    await waitFor('the stop', () => repl.stdout.text.includes(' [stopped]\n'));
    repl.type('\x03');
    expect(await repl.done).toBe(0);

    const second = startRepl(GREEDY);
    await waitFor('the first prompt', () => second.stdout.text.includes('> '));
    second.type('\x03'); // at the prompt: a hint, not an exit
    await waitFor('the hint', () => second.stdout.text.includes('press Ctrl-C again or Ctrl-D to exit'));
    second.type('\x04');
    expect(await second.done).toBe(0);
  });
});

describe.skipIf(!GGUF)('bitexit chat on stories260K', () => {
  it('--system is rendered first; a message too long for --context is a one-line error', async () => {
    const r = await runCli(['chat', '--model', GGUF!, ...GREEDY, '-n', '8', '--system', 'Stories.'], { stdin: pipedStdin('Hi') });
    expect(r.code, r.stderr).toBe(0);
    const long = await runCli(['chat', '--model', GGUF!, ...GREEDY, '-c', '32'], { stdin: pipedStdin('once upon a time '.repeat(20)) });
    expect(long.code).toBe(1);
    expect(long.stderr).toMatch(/^bitexit: the prompt needs \d+ tokens but the context holds 32/);
    expect(long.stdout).toBe('');
  });
});
