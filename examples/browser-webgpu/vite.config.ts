import { createReadStream, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { demoExitsPath, demoModelPath } from '@bitexit/model-demo';
import { defineConfig, defaultClientConditions, type Plugin } from 'vite';

/**
 * The engine's path-based loaders (openModel and friends) import Node built-ins
 * and @bitexit/format/node lazily, so they stay in the module graph of a page
 * even though this page only opens models from bytes. Instead of Vite's
 * silent browser-external shim, each such module becomes a stub whose every
 * export throws a plain error naming the Node-only module, so the bundle
 * contains no Node import at all.
 */
function nodeOnlyStubs(): Plugin {
  const PREFIX = '\0bitexit-node-only:';
  return {
    name: 'bitexit-node-only-stubs',
    apply: 'build',
    enforce: 'pre',
    resolveId(id) {
      if (id.startsWith('node:') || id === '@bitexit/format/node') return PREFIX + id;
      return null;
    },
    load(id) {
      if (!id.startsWith(PREFIX)) return null;
      const name = JSON.stringify(id.slice(PREFIX.length));
      return {
        code:
          `const fail = (k) => () => { throw new Error(${name} + ' (' + String(k) + ') is Node-only and not available in the browser: open models from bytes (openGgufModel(new MemoryByteSource(...)))'); };\n` +
          'export const __stub = new Proxy({}, { get: (_, k) => fail(k) });\nexport default __stub;\n',
        syntheticNamedExports: '__stub',
      };
    },
  };
}

/**
 * The embedded demo model of @bitexit/model-demo and its exits file, at
 * /models/<file>: served by the dev and preview servers, and copied into the
 * build, so the page has a model to try without a URL.
 */
function demoModel(): Plugin {
  const files = new Map([demoModelPath(), demoExitsPath()].map((p) => [`/models/${basename(p)}`, p]));
  const serve = (server: { middlewares: { use: (fn: (req: { url?: string }, res: import('node:http').ServerResponse, next: () => void) => void) => void } }) =>
    server.middlewares.use((req, res, next) => {
      const file = files.get(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (!file) return next();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
      createReadStream(file).pipe(res);
    });
  return {
    name: 'bitexit-demo-model',
    configureServer: serve,
    configurePreviewServer: serve,
    generateBundle() {
      for (const [url, file] of files) this.emitFile({ type: 'asset', fileName: url.slice(1), source: readFileSync(file) });
    },
  };
}

// Workspace packages are bundled from their TypeScript sources ('bitexit-source'),
// so the page never runs a stale dist/. The model runs in a module worker (src/worker.ts),
// bundled with the same Node-only stubs.
export default defineConfig({
  resolve: { conditions: ['bitexit-source', ...defaultClientConditions] },
  plugins: [nodeOnlyStubs(), demoModel()],
  worker: { format: 'es', plugins: () => [nodeOnlyStubs()] },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
});
