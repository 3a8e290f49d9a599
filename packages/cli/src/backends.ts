import { BackendUnavailableError, probeBackends, type BackendReport } from '@bitexit/backend';
import { registerCpuBackend } from '@bitexit/backend-cpu';

/** Backends shipped as separate packages: imported when installed, reported as "not installed" otherwise. */
export const OPTIONAL_BACKENDS = [
  { name: 'webgpu', pkg: '@bitexit/backend-webgpu' },
  { name: 'cuda', pkg: '@bitexit/backend-cuda' },
] as const;

export interface MissingBackend {
  name: string;
  pkg: string;
  reason: string;
}

export interface BackendSetup {
  /** Optional backends that could not be loaded, and why. */
  missing: MissingBackend[];
}

/** Resolves a bare specifier at run time (kept out of the bundler's and the type checker's static graph). */
async function importOptional(pkg: string): Promise<Record<string, unknown>> {
  return (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
}

function isMissingModule(e: unknown, pkg: string): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') return e.message.includes(pkg);
  return /cannot find (package|module)|failed to (load|resolve)/i.test(e.message) && e.message.includes(pkg);
}

/** A backend package registers itself through `register()` or an exported `register…Backend()` function. */
function callRegister(mod: Record<string, unknown>): boolean {
  const fns = Object.entries(mod).filter(
    ([k, v]) => typeof v === 'function' && (k === 'register' || /^register\w*Backend$/.test(k)),
  );
  for (const [, fn] of fns) (fn as () => unknown)();
  return fns.length > 0;
}

let setupOnce: Promise<BackendSetup> | null = null;

/** Registers the CPU backend and every optional backend package that is installed. Idempotent. */
export function setupBackends(): Promise<BackendSetup> {
  setupOnce ??= (async () => {
    registerCpuBackend();
    const missing: MissingBackend[] = [];
    for (const { name, pkg } of OPTIONAL_BACKENDS) {
      try {
        const mod = await importOptional(pkg);
        if (!callRegister(mod)) missing.push({ name, pkg, reason: `package ${pkg} exports no register function` });
      } catch (e) {
        const reason = isMissingModule(e, pkg)
          ? `not installed (npm install ${pkg})`
          : `package ${pkg} failed to load: ${(e as Error).message.split('\n')[0]}`;
        missing.push({ name, pkg, reason });
      }
    }
    return { missing };
  })();
  return setupOnce;
}

/**
 * Fails early, with the reason, when a named backend's package is not
 * installed (the registry alone would only say "unknown backend").
 */
export async function requireBackendInstalled(name: string): Promise<void> {
  const { missing } = await setupBackends();
  const m = missing.find((x) => x.name === name);
  if (m) throw new BackendUnavailableError(name, m.reason);
}

export interface DoctorEntry {
  name: string;
  installed: boolean;
  available: boolean;
  priority: number | null;
  description: string | null;
  /** The npm package of an optional backend. */
  package?: string;
  /** Why it can run (device) ... */
  detail?: string;
  /** ... or why it cannot. */
  reason?: string;
}

/** Every known backend: registered ones probed, missing optional packages reported as such. */
export async function diagnoseBackends(): Promise<DoctorEntry[]> {
  const { missing } = await setupBackends();
  const reports: BackendReport[] = await probeBackends();
  const out: DoctorEntry[] = reports.map((r) => ({
    name: r.name,
    installed: true,
    available: r.availability.ok,
    priority: r.priority,
    description: r.description,
    ...(r.availability.ok
      ? { detail: r.availability.detail + (r.availability.notForAuto ? `; not chosen by auto: ${r.availability.notForAuto}` : '') }
      : { reason: r.availability.reason }),
  }));
  for (const m of missing) {
    if (out.some((e) => e.name === m.name)) continue;
    out.push({ name: m.name, installed: false, available: false, priority: null, description: null, package: m.pkg, reason: m.reason });
  }
  return out;
}
