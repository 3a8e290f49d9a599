// The example page in a real browser: builds it with Vite, serves it and the
// stories260K fixture on localhost, opens it in Debian's chromium (headless,
// WebGPU on SwiftShader) through playwright-core, loads the model by URL,
// generates greedily and requires exactly the text the CPU backend generates.
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel } from '@bitexit/engine';
import { fixturePath } from '@bitexit/format/node';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = process.env.BITEXIT_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MODEL = fixturePath('stories260K/stories260K.gguf');
const PROMPT = 'Once upon a time';
const MAX_TOKENS = 32;

const missing = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found (Debian: apt-get install chromium; or set BITEXIT_CHROMIUM)`
  : !MODEL
    ? 'fixture stories260K/stories260K.gguf not found (set BITEXIT_FIXTURES)'
    : null;
if (missing) console.warn(`[browser-webgpu] skipping the page test: ${missing}`);

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.gguf': 'application/octet-stream',
};

/** Serves the built page from `dir` and the model at /fixtures/stories260K.gguf. */
async function serve(dir: string, model: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    const file = path === '/fixtures/stories260K.gguf' ? model : resolve(dir, `.${path === '/' ? '/index.html' : path}`);
    if (file !== model && !file.startsWith(dir + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Waits for the page's state (body[data-state]) to match, failing early with the page's error text. */
async function waitForState(page: Page, want: RegExp, timeoutMs: number): Promise<string> {
  const handle = await page.waitForFunction(
    (src) => {
      const s = document.body.dataset.state ?? '';
      return new RegExp(src).test(s) || s === 'error' ? s : false;
    },
    want.source,
    { timeout: timeoutMs, polling: 100 },
  );
  const state = (await handle.jsonValue()) as string;
  if (state === 'error') {
    const errors = await page.$$eval('.error', (els) => els.map((e) => e.textContent).join(' | '));
    throw new Error(`the page reported an error: ${errors}`);
  }
  return state;
}

describe.skipIf(missing !== null)('browser-webgpu example in chromium', () => {
  let outDir = '';
  let profile = '';
  let server: Server | null = null;
  let origin = '';
  let context: BrowserContext | null = null;
  let expected = '';
  const pageLog: string[] = [];

  beforeAll(async () => {
    const t0 = performance.now();
    // The reference text: the same greedy generation on the CPU backend.
    const cpu = await loadModel(MODEL!, { backend: await createCpuBackend() });
    expected = PROMPT + (await cpu.generate(PROMPT, { temperature: 0, maxTokens: MAX_TOKENS }).result).text;
    await cpu.dispose();
    await cpu.backend.dispose();

    const { build } = await import('vite');
    outDir = mkdtempSync(join(tmpdir(), 'bitexit-browser-example-'));
    await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
    ({ server, origin } = await serve(outDir, MODEL!));

    const { chromium } = await import('playwright-core');
    profile = mkdtempSync(join(tmpdir(), 'bitexit-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    console.log(`[browser-webgpu] CPU reference, vite build and chromium start took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    await context?.close().catch(() => undefined);
    await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (outDir) rmSync(outDir, { recursive: true, force: true });
    if (pageLog.length) console.log(`[browser-webgpu] page console:\n${pageLog.join('\n')}`);
  });

  it('loads stories260K by URL on WebGPU and generates the CPU backend\'s greedy text', async () => {
    const page = await context!.newPage();
    page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`page error: ${e.stack ?? e.message}`));
    await page.goto(`${origin}/`);

    await page.waitForFunction(() => !document.getElementById('gpu-status')!.textContent!.startsWith('Checking'));
    const gpu = await page.textContent('#gpu-status');
    console.log(`[browser-webgpu] ${gpu}`);
    expect(gpu).toMatch(/^WebGPU available/);
    // SwiftShader is a software adapter: `auto` (the default) would take the CPU backend; this test is about WebGPU.
    expect(await page.inputValue('#backend')).toBe('auto');
    await page.selectOption('#backend', 'webgpu');

    const t0 = performance.now();
    await page.fill('#model-url', '/fixtures/stories260K.gguf');
    await page.click('#load-url');
    await waitForState(page, /^ready$/, 60_000);
    console.log(`[browser-webgpu] ${await page.textContent('#progress-label')} ${await page.textContent('#model-info')}`);
    expect(await page.$eval('#progress', (p) => (p as HTMLProgressElement).value)).toBe(1);
    expect(await page.textContent('#model-info')).toContain('backend webgpu');
    expect(Number(await page.textContent('#stats-bpw'))).toBeGreaterThan(0);

    await page.fill('#prompt', PROMPT);
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', String(MAX_TOKENS));
    await page.click('#generate');
    const state = await waitForState(page, /^done/, 60_000);
    const text = await page.textContent('#output');
    console.log(`[browser-webgpu] ${state} in ${((performance.now() - t0) / 1000).toFixed(1)} s (load + generate); tokens/s ${await page.textContent('#stats-tps')}; layers ${await page.textContent('#stats-layers')}\n  ${JSON.stringify(text)}`);
    expect(text).toBe(expected);
    expect(await page.textContent('#stats-tps')).toMatch(/^\d/);
    await page.close();
  });

  it('the bundle imports no Node built-in', () => {
    const assets = join(outDir, 'assets');
    // Node imports left in the output, or Vite's silent browser-external shim for one.
    const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*)["'](node:[\w/]+|@bitexit\/format\/node)["']|__vite-browser-external/g;
    const offenders = readdirSync(assets)
      .filter((f) => f.endsWith('.js'))
      .flatMap((f) => [...readFileSync(join(assets, f), 'utf8').matchAll(pattern)].map((m) => `${f}: ${m[1] ?? m[0]}`));
    expect(offenders).toEqual([]);
  });

  it('says plainly when the browser has no WebGPU and offers the CPU backend', async () => {
    const { chromium } = await import('playwright-core');
    const dir = mkdtempSync(join(tmpdir(), 'bitexit-chromium-nogpu-'));
    const plain = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-webgpu'] });
    try {
      const page = await plain.newPage();
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => !document.getElementById('gpu-status')!.textContent!.startsWith('Checking'));
      expect(await page.textContent('#gpu-status')).toMatch(/^WebGPU is not available in this browser: .+\n.*CPU backend/);
      expect(await page.getAttribute('#gpu-status', 'class')).toBe('error');
      expect(await page.inputValue('#backend')).toBe('cpu');
    } finally {
      await plain.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads a picked file, keeps the weights in the Cache API and clears them on request', async () => {
    const page = await context!.newPage();
    await page.goto(`${origin}/`);
    // Cached by the previous test's download (same origin, same profile).
    await page.waitForSelector('#cache-info button');
    expect(await page.textContent('#cache-info')).toContain('stories260K.gguf');
    // A picked file loads too, and is cached under its name.
    await page.setInputFiles('#model-file', MODEL!);
    await waitForState(page, /^ready$/, 60_000);
    await page.waitForFunction(() => document.querySelectorAll('#cache-info button').length === 2);
    await page.click('#clear-cache');
    await page.waitForFunction(() => document.getElementById('cache-info')!.textContent === 'No weights cached.');
    await page.close();
  });

  it('offers the demo model: auto takes the CPU backend over SwiftShader, runs it in a worker, loads its exit predictors and decodes with early exit', async () => {
    const page = await context!.newPage();
    page.on('pageerror', (e) => pageLog.push(`page error: ${e.stack ?? e.message}`));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => !document.getElementById('gpu-status')!.textContent!.startsWith('Checking'));
    expect(await page.textContent('#gpu-status')).toMatch(/^WebGPU available: .*Auto uses the CPU backend: SwiftShader is a software adapter/i);
    expect(await page.inputValue('#backend')).toBe('auto');

    const t0 = performance.now();
    await page.click('#load-demo');
    await waitForState(page, /^ready$/, 60_000);
    const info = await page.textContent('#model-info');
    expect(info).toMatch(/10 layers, context 256, backend cpu \(auto passed over webgpu: .*software adapter/);
    expect(await page.textContent('#early-exit-info')).toMatch(/^early exit available: predictors for 9 layers from bitexit-demo\.exits\.gguf, eagle drafter, threshold 0\.95/);
    expect(await page.isChecked('#early-exit')).toBe(true);
    // The model lives in a dedicated worker, not on the page's thread.
    expect(page.workers().length).toBe(1);

    await page.fill('#prompt', PROMPT);
    await page.fill('#temperature', '0');
    await page.fill('#max-tokens', '48');
    await page.click('#generate');
    const state = await waitForState(page, /^done/, 60_000);
    const text = (await page.textContent('#output'))!;
    const layers = (await page.textContent('#stats-layers'))!;
    console.log(`[browser-webgpu] demo model: ${state} in ${((performance.now() - t0) / 1000).toFixed(1)} s; tokens/s ${await page.textContent('#stats-tps')}; layers ${layers}\n  ${JSON.stringify(text)}`);
    expect(text.startsWith(PROMPT)).toBe(true);
    expect(text.length).toBeGreaterThan(PROMPT.length + 40);
    const m = /^([\d.]+) of 10 \(mean over \d+ decode steps, early exit\)$/.exec(layers);
    expect(m, layers).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(10);
    await page.close();
  });
});
