import { BACKEND_SPECIFICATION_VERSION, type Availability, type Backend, type BackendCreateOptions, type BackendProvider } from './backend.js';
import { BackendUnavailableError, UnknownBackendError } from './errors.js';

/**
 * One registry per process, even when both the ESM and the CommonJS build of
 * this package are loaded (an app that require()s one package and imports
 * another): the map lives on globalThis under a registered symbol.
 */
const REGISTRY = Symbol.for('@bitexit/backend/registry');
const providers: Map<string, BackendProvider> = ((globalThis as Record<symbol, unknown>)[REGISTRY] ??= new Map<string, BackendProvider>()) as Map<
  string,
  BackendProvider
>;

/** Registers (or replaces) a backend provider. Backend packages call this from their `register()`. */
export function registerBackend(provider: BackendProvider): void {
  if (provider.specificationVersion !== BACKEND_SPECIFICATION_VERSION) {
    throw new Error(
      `backend '${provider.name}' implements contract v${provider.specificationVersion}, this build needs v${BACKEND_SPECIFICATION_VERSION}`,
    );
  }
  providers.set(provider.name, provider);
}

export function unregisterBackend(name: string): void {
  providers.delete(name);
}

export function registeredBackends(): BackendProvider[] {
  return [...providers.values()].sort((a, b) => b.priority - a.priority);
}

export interface BackendReport {
  name: string;
  priority: number;
  description: string;
  availability: Availability;
}

/** Every registered backend with whether it can run here and why not (for `bitexit doctor`). */
export async function probeBackends(): Promise<BackendReport[]> {
  const out: BackendReport[] = [];
  for (const p of registeredBackends()) {
    let availability: Availability;
    try {
      availability = await p.probe();
    } catch (e) {
      availability = { ok: false, reason: `probe failed: ${(e as Error).message}` };
    }
    out.push({ name: p.name, priority: p.priority, description: p.description, availability });
  }
  return out;
}

export interface CreatedBackend {
  backend: Backend;
  /** For `auto`: the backends passed over and why, so callers can say it out loud. */
  skipped: { name: string; reason: string }[];
}

/**
 * `auto` picks the highest-priority backend whose probe and creation succeed
 * and reports the ones skipped. A named backend that cannot run throws
 * BackendUnavailableError with the reason: never a silent fallback.
 */
export async function createBackend(name: string = 'auto', options?: BackendCreateOptions): Promise<CreatedBackend> {
  if (name !== 'auto') {
    const p = providers.get(name);
    if (!p) throw new UnknownBackendError(name, [...providers.keys()]);
    const a = await p.probe();
    if (!a.ok) throw new BackendUnavailableError(name, a.reason);
    try {
      return { backend: await p.create(options), skipped: [] };
    } catch (e) {
      if (e instanceof Error && 'code' in e) throw e;
      throw new BackendUnavailableError(name, (e as Error).message);
    }
  }
  const skipped: { name: string; reason: string }[] = [];
  for (const p of registeredBackends()) {
    const a = await p.probe().catch((e: Error) => ({ ok: false as const, reason: e.message }));
    if (!a.ok) {
      skipped.push({ name: p.name, reason: a.reason });
      continue;
    }
    if (a.notForAuto) {
      skipped.push({ name: p.name, reason: a.notForAuto });
      continue;
    }
    try {
      return { backend: await p.create(options), skipped };
    } catch (e) {
      skipped.push({ name: p.name, reason: (e as Error).message });
    }
  }
  throw new BackendUnavailableError(
    'auto',
    skipped.length ? skipped.map((s) => `${s.name}: ${s.reason}`).join('; ') : 'no backend is registered',
  );
}
