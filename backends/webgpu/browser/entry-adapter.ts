// Checks that chromium offers WebGPU: prints the adapter and the latency of one tiny submit + readback.
import { describeAdapter, readbackLatencyMs, runInPage } from './page.js';
import { it } from './shims/vitest.js';

await runInPage(() => {
  it('webgpu adapter', async () => {
    const line = await describeAdapter();
    console.log(line);
    if (!line.startsWith('adapter ')) throw new Error(line);
    console.log(`submit + mapAsync readback of 16 bytes: median ${(await readbackLatencyMs()).toFixed(2)} ms`);
  });
});
