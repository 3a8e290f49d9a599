import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '@bitexit/engine';
import { runLoadTest } from './loadtest.js';
import type { BitexitServer } from './server.js';
import { MODEL_ID, loadDemoModel, startServer } from './test-support.js';

// CI-sized variant of `npm run loadtest`: 8 concurrent streaming clients, 40 requests, a queue of 4 (so some 429s).
describe('load (CI-sized)', () => {
  let model: Model;
  let server: BitexitServer;
  let url: string;
  const log: string[] = [];

  beforeAll(async () => {
    model = await loadDemoModel();
    ({ server, url } = await startServer(model, { maxQueue: 4, apiKey: 'k', log: (l) => log.push(l) }));
  });
  afterAll(async () => {
    await server?.close();
    await model?.dispose();
  });

  it('no request lost, no stream mixed with another, only 429s as errors, nothing left running', async () => {
    const report = await runLoadTest({
      url,
      model: MODEL_ID,
      apiKey: 'k',
      clients: 8,
      requests: 40,
      disconnectFraction: 0.15,
      distinct: 12,
      prompts: ['Once upon a time', 'Tom had a red ball.', 'The cat', 'Tell me a story about a dog.'],
      maxTokens: [2, 5, 9],
      retryScale: 0.05,
    });
    expect(report.errors).toEqual([]);
    expect(report.completed + report.disconnected).toBe(40);
    expect(report.disconnected).toBeGreaterThan(0);
    expect(report.rejected).toBeGreaterThan(0);
    // Disconnected streams end on the server a moment after their clients leave.
    const idle = async () => ((await (await fetch(`${url}/health`)).json()) as { models: { running: number; queued: number }[] }).models[0]!;
    for (let i = 0; i < 100 && (await idle()).running > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await idle()).toMatchObject({ running: 0, queued: 0 });
    // The server saw every admitted stream through to its end or its abort: the 40, and the one measured alone first.
    expect(log.filter((l) => l.includes('stream=true')).length).toBe(41);
  });
});
