/**
 * Runs the whole suite against the CPU reference backend, loaded with a
 * dynamic import (the CPU package depends on this one, so it is not a
 * dependency here). Skips with the reason when it cannot be imported.
 */
import { describe, it } from 'vitest';
import type { BackendProvider } from '@bitexit/backend';
import { defineConformanceSuite } from './index.js';

const CPU_PACKAGE = '@bitexit/backend-cpu';
let provider: BackendProvider | null = null;
let reason = '';
try {
  const mod = (await import(/* @vite-ignore */ CPU_PACKAGE)) as { cpuBackendProvider?: BackendProvider };
  provider = mod.cpuBackendProvider ?? null;
  if (!provider) reason = `${CPU_PACKAGE} does not export cpuBackendProvider`;
} catch (e) {
  reason = `${CPU_PACKAGE} cannot be imported: ${(e as Error).message}`;
}

if (provider) {
  defineConformanceSuite({ provider });
} else {
  describe('conformance: cpu', () => {
    it.skip(`skipped: ${reason}`, () => {});
  });
  console.warn(`[conformance] ${reason}`);
}
