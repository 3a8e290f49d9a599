/**
 * Runs the conformance suite inside chromium: bundles a page entry with
 * esbuild (with 'vitest' and the few Node modules the suite touches replaced
 * by browser stand-ins, see shims/), serves it and the fixture models on a
 * localhost port, opens it in headless chromium and collects one result per
 * check.
 */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestResult } from './shims/vitest.js';
import { launchChromium } from './chromium.js';

export type { TestResult } from './shims/vitest.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Page entries in this folder, by name. */
export const ENTRIES = {
  /** The suite on @bitexit/backend-webgpu (navigator.gpu). */
  webgpu: join(here, 'entry-webgpu.ts'),
  /** Its op/program/error checks again with shader-f16 and subgroups disabled. */
  fallback: join(here, 'entry-fallback.ts'),
  /** The suite on the CPU backend: proves the harness itself (shims, fixtures, server) works. */
  cpu: join(here, 'entry-cpu.ts'),
  /** Prints the WebGPU adapter chromium offers. */
  adapter: join(here, 'entry-adapter.ts'),
} as const;
export type EntryName = keyof typeof ENTRIES;

const CPU_SOURCE = resolve(here, '..', '..', 'cpu', 'src', 'index.ts');

const SHIMS: Record<string, string> = {
  vitest: join(here, 'shims', 'vitest.ts'),
  '@bitexit/format/node': join(here, 'shims', 'format-node.ts'),
  'node:fs': join(here, 'shims', 'fs.ts'),
  fs: join(here, 'shims', 'fs.ts'),
  'node:fs/promises': join(here, 'shims', 'fs-promises.ts'),
  'fs/promises': join(here, 'shims', 'fs-promises.ts'),
  'node:path': join(here, 'shims', 'path.ts'),
  path: join(here, 'shims', 'path.ts'),
};

export interface Bundle {
  /** File name ('entry-webgpu.js', 'chunk-X.js', 'cpu.js') → contents. */
  files: Map<string, Uint8Array>;
}

/**
 * One esbuild pass over every entry plus the CPU backend (code splitting, so
 * the page and the CPU backend share one copy of @bitexit/backend and
 * @bitexit/format). The suite imports the CPU backend by a bare specifier at
 * run time; the page's import map points it at cpu.js.
 */
export async function bundle(entries: readonly EntryName[]): Promise<Bundle> {
  const esbuild = await import('esbuild');
  const shimFilter = new RegExp(`^(${Object.keys(SHIMS).map((k) => k.replace(/[/.]/g, '\\$&')).join('|')})$`);
  const result = await esbuild.build({
    entryPoints: { ...Object.fromEntries(entries.map((k) => [`entry-${k}`, ENTRIES[k]])), cpu: CPU_SOURCE },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['bitexit-source'],
    // The Node-only Dawn binding of the WebGPU backend never loads in a page.
    external: ['webgpu'],
    outdir: '/bundle',
    write: false,
    sourcemap: 'inline',
    logLevel: 'silent',
    plugins: [
      {
        name: 'bitexit-browser-shims',
        setup(build) {
          build.onResolve({ filter: shimFilter }, (args) => ({ path: SHIMS[args.path] }));
        },
      },
    ],
  });
  const files = new Map<string, Uint8Array>();
  for (const f of result.outputFiles) files.set(relative('/bundle', f.path).split(sep).join('/'), f.contents);
  return { files };
}

/** Relative path → size of every file under `dir`. */
function listFiles(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[relative(dir, p).split(sep).join('/')] = statSync(p).size;
    }
  };
  walk(dir);
  return out;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.json': 'application/json' };

function page(entry: string): string {
  return `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>bitexit ${entry}</title>
<script type="importmap">{"imports":{"@bitexit/backend-cpu":"/bundle/cpu.js"}}</script>
<script type="module" src="/bundle/entry-${entry}.js"></script>`;
}

export interface HarnessServer {
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves `/<entry>.html`, `/bundle/*`, `/fixtures-manifest.json` and
 * `/fixtures/*` (with single HTTP Range support) on 127.0.0.1.
 */
export async function serve(b: Bundle, fixturesDir: string | null): Promise<HarnessServer> {
  const manifest = fixturesDir ? JSON.stringify({ base: '/fixtures', files: listFiles(fixturesDir) }) : null;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    const send = (status: number, type: string, body: string | Uint8Array) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const m = /^\/([a-z]+)\.html$/.exec(path);
    if (m && m[1] in ENTRIES) return send(200, TYPES['.html'], page(m[1]));
    if (path.startsWith('/bundle/')) {
      const f = b.files.get(path.slice('/bundle/'.length));
      return f ? send(200, TYPES['.js'], f) : send(404, 'text/plain', 'not found');
    }
    if (path === '/fixtures-manifest.json') return manifest ? send(200, TYPES['.json'], manifest) : send(404, 'text/plain', 'no fixtures');
    if (fixturesDir && path.startsWith('/fixtures/')) {
      const file = resolve(fixturesDir, `.${path.slice('/fixtures'.length)}`);
      if (!file.startsWith(resolve(fixturesDir) + sep)) return send(403, 'text/plain', 'outside the fixtures');
      let size: number;
      try {
        const st = statSync(file);
        if (!st.isFile()) return send(404, 'text/plain', 'not a file');
        size = st.size;
      } catch {
        return send(404, 'text/plain', 'not found');
      }
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
        if (start > end) {
          res.writeHead(416, { 'content-range': `bytes */${size}` });
          return res.end();
        }
        res.writeHead(206, { 'content-type': type, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
        return createReadStream(file, { start, end }).pipe(res);
      }
      res.writeHead(200, { 'content-type': type, 'content-length': size, 'accept-ranges': 'bytes' });
      return createReadStream(file).pipe(res);
    }
    send(404, 'text/plain', 'not found');
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

export interface PageRun {
  results: TestResult[];
  /** What the page printed (console) and uncaught page errors, in order. */
  log: string[];
  ms: number;
}

export interface RunOptions {
  entries: EntryName[];
  fixturesDir: string | null;
  /** Whole-run limit per entry. Default 240 s. */
  timeoutMs?: number;
  /** Called with every line the page prints and every result, as they come. */
  onLine?: (line: string) => void;
}

/** Bundles, serves, launches chromium once and runs each entry in a fresh page. */
export async function runInChromium(options: RunOptions): Promise<Map<EntryName, PageRun>> {
  const b = await bundle(options.entries);
  const server = await serve(b, options.fixturesDir);
  const browser = await launchChromium();
  const runs = new Map<EntryName, PageRun>();
  try {
    for (const entry of options.entries) {
      const t0 = performance.now();
      const results: TestResult[] = [];
      const log: string[] = [];
      const line = (s: string) => {
        log.push(s);
        options.onLine?.(`[${entry}] ${s}`);
      };
      const pg = await browser.context.newPage();
      pg.on('console', (msg) => line(`console.${msg.type()}: ${msg.text()}`));
      pg.on('pageerror', (e) => line(`page error: ${e.stack ?? e.message}`));
      await pg.exposeFunction('__bitexitReport', (r: TestResult) => {
        results.push(r);
        options.onLine?.(`[${entry}] ${formatResult(r)}`);
      });
      await pg.goto(`${server.origin}/${entry}.html`);
      try {
        await pg.waitForFunction(() => (globalThis as { __bitexitDone?: boolean }).__bitexitDone === true, null, {
          timeout: options.timeoutMs ?? 240_000,
          polling: 100,
        });
      } catch (e) {
        results.push({ name: `${entry} page`, outcome: 'fail', ms: performance.now() - t0, message: `the page did not finish: ${(e as Error).message.split('\n')[0]}` });
      }
      await pg.close();
      runs.set(entry, { results, log, ms: performance.now() - t0 });
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return runs;
}

export function formatResult(r: TestResult): string {
  const mark = r.outcome === 'pass' ? 'PASS' : r.outcome === 'skip' ? 'SKIP' : 'FAIL';
  const why = r.message ? ` — ${r.outcome === 'fail' ? r.message : r.message.split('\n')[0]}` : '';
  return `${mark} ${r.name} (${r.ms.toFixed(0)} ms)${why}`;
}
