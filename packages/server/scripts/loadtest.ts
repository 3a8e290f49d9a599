/**
 * `npm run loadtest` (packages/server): the issue #15 load test on loopback.
 * Serves the embedded demo model on the CPU backend in this process, then 32
 * concurrent streaming clients send 500 requests of mixed lengths (10% of
 * clients disconnect after their first chunks); the queue holds 24, so some
 * requests get 429 and retry. Checks every stream against the same request
 * run non-streamed, and that the heap returns to its starting level. Prints a
 * table and one JSON line; exits 1 on any failure.
 *   CLIENTS=32 REQUESTS=500 MAX_QUEUE=24 npm run loadtest
 */
import { runLoadTest } from '../src/loadtest.js';
import { MODEL_ID, loadDemoModel, startServer } from '../src/test-support.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run loadtest does)');

const heapMiB = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

const model = await loadDemoModel();
const { server, url } = await startServer(model, { maxQueue: env('MAX_QUEUE', 24) });
const options = {
  url,
  model: MODEL_ID,
  clients: env('CLIENTS', 32),
  requests: env('REQUESTS', 500),
  disconnectFraction: 0.1,
  distinct: 48,
  prompts: ['Once upon a time', 'Tom had a red ball.', 'The little cat was sad.', 'Tell me a story about a brave dog.', 'Lily and Ben went to the park.', 'One day'],
  maxTokens: [4, 8, 16, 32, 64],
};
// Warm-up (compiles, caches) so the baseline is the server at rest, not before its first request.
await runLoadTest({ ...options, clients: 4, requests: 16, distinct: 8 });
const heapBefore = heapMiB();
const rssBefore = rssMiB();
const report = await runLoadTest(options);
await new Promise((r) => setTimeout(r, 500)); // let closed sockets go
const heapAfter = heapMiB();
const rssAfter = rssMiB();
await server.close();
await model.dispose();

const memory = { heap_before_mib: +heapBefore.toFixed(1), heap_after_mib: +heapAfter.toFixed(1), rss_before_mib: +rssBefore.toFixed(1), rss_after_mib: +rssAfter.toFixed(1) };
const heapGrowth = heapAfter - heapBefore;
console.log(`clients ${options.clients}, requests ${report.requests}: completed ${report.completed}, disconnected ${report.disconnected}, 429 answers ${report.rejected}, errors ${report.errors.length}`);
console.log(`wall ${report.wallSeconds.toFixed(1)} s, ${report.completionTokens} completion tokens, ${report.tokensPerSecond.toFixed(1)} tok/s all clients together, ${report.streamTokensPerSecond.p50.toFixed(1)} tok/s per stream (p50)`);
console.log(`alone (one ${Math.max(...options.maxTokens)}-token stream, server otherwise idle): first token ${report.alone.ttftMs.toFixed(0)} ms, ${report.alone.tokensPerSecond.toFixed(1)} tok/s`);
console.log(`time to first token (queueing included): p50 ${report.ttftMs.p50.toFixed(0)} ms, p99 ${report.ttftMs.p99.toFixed(0)} ms, max ${report.ttftMs.max.toFixed(0)} ms`);
console.log(`heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB (${heapGrowth >= 0 ? '+' : ''}${heapGrowth.toFixed(2)}), rss ${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)} MiB`);
for (const e of report.errors.slice(0, 20)) console.log(`error: ${e}`);
console.log(JSON.stringify({ ...report, errors: report.errors.length, memory }));
const ok = report.errors.length === 0 && report.completed + report.disconnected === report.requests && heapGrowth < 4;
if (!ok) console.log('FAILED');
process.exit(ok ? 0 : 1);
