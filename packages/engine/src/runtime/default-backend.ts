import { BackendUnavailableError, registeredBackends } from '@bitexit/backend';

/** The backend `loadModel` falls back on when the application registered none. */
export const DEFAULT_BACKEND_PACKAGE = '@bitexit/backend-cpu';

let loading: Promise<void> | null = null;

/**
 * `loadModel(path)` with no backend registered: registers the CPU backend
 * from @bitexit/backend-cpu (a peer dependency that npm installs with the
 * engine). It is imported lazily by name, so the engine does not depend on
 * a backend statically (the CPU backend's own tests depend on the engine)
 * and bundlers leave it out unless the application imports it.
 */
export async function ensureDefaultBackend(): Promise<void> {
  if (registeredBackends().length > 0) return;
  loading ??= (async () => {
    const name = DEFAULT_BACKEND_PACKAGE; // a variable: no static edge for bundlers and type checkers
    let mod: Record<string, unknown>;
    try {
      mod = (await import(/* @vite-ignore */ name)) as Record<string, unknown>;
    } catch (e) {
      loading = null;
      throw new BackendUnavailableError(
        'auto',
        `no backend is registered and ${name} could not be loaded (${(e as Error).message.split('\n')[0]}): npm install ${name}, or register a backend (registerBackend)`,
      );
    }
    const register = mod.registerCpuBackend;
    if (typeof register !== 'function') throw new BackendUnavailableError('auto', `${name} exports no registerCpuBackend()`);
    (register as () => void)();
  })();
  return loading;
}
