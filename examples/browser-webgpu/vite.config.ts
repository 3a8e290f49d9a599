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

// Workspace packages are bundled from their TypeScript sources ('bitexit-source'),
// so the page never runs a stale dist/.
export default defineConfig({
  resolve: { conditions: ['bitexit-source', ...defaultClientConditions] },
  plugins: [nodeOnlyStubs()],
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
});
