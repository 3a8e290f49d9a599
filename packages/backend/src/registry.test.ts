import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, BackendProvider } from './backend.js';
import { BackendUnavailableError, UnknownBackendError } from './errors.js';
import { createBackend, probeBackends, registerBackend, registeredBackends, unregisterBackend } from './registry.js';

const fakeBackend = (name: string) => ({ capabilities: { name } }) as unknown as Backend;

function provider(name: string, priority: number, ok: boolean | 'throws-on-create', reason = 'no device'): BackendProvider {
  return {
    specificationVersion: 1,
    name,
    priority,
    description: `${name} test backend`,
    probe: async () => (ok === false ? { ok: false, reason } : { ok: true, detail: 'ready' }),
    create: async () => {
      if (ok === 'throws-on-create') throw new Error('adapter vanished');
      return fakeBackend(name);
    },
  };
}

afterEach(() => {
  for (const p of registeredBackends()) unregisterBackend(p.name);
});

describe('backend registry', () => {
  it('auto picks the highest-priority available backend and reports the ones skipped', async () => {
    registerBackend(provider('cpu', 0, true));
    registerBackend(provider('gpu-a', 20, false, 'no adapter'));
    registerBackend(provider('gpu-b', 10, 'throws-on-create'));
    const { backend, skipped } = await createBackend('auto');
    expect(backend.capabilities.name).toBe('cpu');
    expect(skipped).toEqual([
      { name: 'gpu-a', reason: 'no adapter' },
      { name: 'gpu-b', reason: 'adapter vanished' },
    ]);
  });

  it('auto passes over a backend that is available but not meant for auto; naming it still works', async () => {
    registerBackend(provider('cpu', 0, true));
    registerBackend({ ...provider('soft-gpu', 10, true), probe: async () => ({ ok: true, detail: 'llvmpipe', notForAuto: 'software adapter' }) });
    const auto = await createBackend('auto');
    expect(auto.backend.capabilities.name).toBe('cpu');
    expect(auto.skipped).toEqual([{ name: 'soft-gpu', reason: 'software adapter' }]);
    expect((await createBackend('soft-gpu')).backend.capabilities.name).toBe('soft-gpu');
  });

  it('an explicit backend that cannot run fails loudly with the reason, never falling back', async () => {
    registerBackend(provider('cpu', 0, true));
    registerBackend(provider('webgpu', 10, false, 'no WebGPU adapter (lavapipe not installed)'));
    const err = await createBackend('webgpu').catch((e) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect(err.message).toContain('no WebGPU adapter (lavapipe not installed)');
    expect(err.code).toBe('E_BACKEND_UNAVAILABLE');
  });

  it('an unknown name lists the registered ones', async () => {
    registerBackend(provider('cpu', 0, true));
    const err = await createBackend('cdua').catch((e) => e);
    expect(err).toBeInstanceOf(UnknownBackendError);
    expect(err.message).toContain("'cdua'");
    expect(err.message).toContain('cpu');
  });

  it('auto with nothing usable says why', async () => {
    registerBackend(provider('gpu', 10, false, 'driver too old'));
    await expect(createBackend()).rejects.toThrow(/gpu: driver too old/);
    unregisterBackend('gpu');
    await expect(createBackend()).rejects.toThrow(/no backend is registered/);
  });

  it('probeBackends reports every backend, turning a throwing probe into a reason', async () => {
    registerBackend(provider('cpu', 0, true));
    registerBackend({ ...provider('odd', 5, true), probe: async () => Promise.reject(new Error('boom')) });
    const reports = await probeBackends();
    expect(reports.map((r) => [r.name, r.availability.ok])).toEqual([
      ['odd', false],
      ['cpu', true],
    ]);
    expect(reports[0]!.availability).toEqual({ ok: false, reason: 'probe failed: boom' });
  });

  it('refuses a provider built for another contract version', () => {
    expect(() => registerBackend({ ...provider('x', 0, true), specificationVersion: 2 as never })).toThrow(/contract v2/);
  });
});
