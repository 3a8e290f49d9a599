import { describe, expect, it } from 'vitest';
import { UsageError } from './errors.js';
import { DEMO_MODEL_PACKAGE, defaultModelPath, NO_DEFAULT_MODEL_MESSAGE } from './model.js';

describe('defaultModelPath', () => {
  it('without the demo package: a usage error saying what to pass', async () => {
    const err = await defaultModelPath('@bitexit/no-such-demo-model').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(NO_DEFAULT_MODEL_MESSAGE);
    expect(NO_DEFAULT_MODEL_MESSAGE).toContain('--model ../shared/fixtures/stories260K/stories260K.gguf');
  });

  it('with @bitexit/model-demo installed: the path of its GGUF', async (ctx) => {
    const installed = await import(/* @vite-ignore */ DEMO_MODEL_PACKAGE).then(() => true, () => false);
    if (!installed) return ctx.skip();
    expect(await defaultModelPath()).toMatch(/\.gguf$/);
  });
});
