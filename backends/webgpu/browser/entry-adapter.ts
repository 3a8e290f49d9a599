// Checks by hand that chromium offers WebGPU: one "test" whose message is the adapter description.
import { runInPage, describeAdapter } from './page.js';
import { it } from './shims/vitest.js';

await runInPage(() => {
  it('webgpu adapter', async () => {
    const line = await describeAdapter();
    console.log(line);
    if (!line.startsWith('adapter ')) throw new Error(line);
  });
});
