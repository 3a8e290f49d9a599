/**
 * Handle bookkeeping every backend needs in the same words: resolve a handle
 * the engine passes back to the backend's own entry, telling "released" from
 * "never ours" from "a forged copy that does not match", and check host writes.
 */
import { InvalidHandleError, InvalidProgramError } from './errors.js';
import type { RunParams } from './program.js';
import type { CompiledProgram, DeviceBuffer, DeviceWeight } from './resources.js';
import { validateRunParams } from './validate.js';

/** What a compiled program remembers for the checks of `run`. */
export interface RunnableEntry {
  readonly handle: CompiledProgram;
  /** Smallest KV cache (rows) the program writes or reads. */
  readonly cacheRows: number;
  /** Buffers and weights the program captured. */
  readonly uses: readonly { kind: 'buffer' | 'weight'; id: number; label: string }[];
  /** The release epoch at which `uses` were last found alive. */
  checkedEpoch: number;
}

export class HandleChecks {
  /** Every handle this backend instance issued (released ones included). */
  private readonly issued = new WeakSet<object>();

  /** Bumped on every release; programs re-check their handles when it moved. */
  private releases = 0;

  constructor(private readonly backendName: string) {}

  /** The current release epoch (store it in a new program entry). */
  get epoch(): number {
    return this.releases;
  }

  /** Call after every release. */
  noteRelease(): void {
    this.releases++;
  }

  /**
   * The checks of `run` before any work: the run's scalars, room in the KV cache, and that nothing the
   * program captured was released since it last ran (`live` tells whether a buffer or weight id still exists).
   */
  checkRun(p: RunnableEntry, params: RunParams, live: (kind: 'buffer' | 'weight', id: number) => boolean): void {
    const { label, maxRows } = p.handle;
    const { pos, n } = params;
    validateRunParams(label, maxRows, n, pos);
    if (pos + n > p.cacheRows) {
      throw new InvalidProgramError(`program '${label}': positions ${pos}..${pos + n - 1} do not fit the KV cache of ${p.cacheRows} rows`);
    }
    if (p.checkedEpoch !== this.releases) {
      for (const u of p.uses) {
        if (!live(u.kind, u.id)) throw new InvalidHandleError(`program '${label}' uses ${u.kind} '${u.label}', which was released`);
      }
      p.checkedEpoch = this.releases;
    }
  }

  /** Records a handle as issued by this instance and returns it. */
  issue<T extends object>(handle: T): T {
    this.issued.add(handle);
    return handle;
  }

  buffer<E extends { readonly handle: DeviceBuffer }>(entries: ReadonlyMap<number, E>, b: DeviceBuffer): E {
    const e = b?.kind === 'buffer' ? entries.get(b.id) : undefined;
    if (!e) return this.missing('buffer', b);
    const h = e.handle;
    if (b !== h && (b.dtype !== h.dtype || b.shape?.[0] !== h.shape[0] || b.shape?.[1] !== h.shape[1])) {
      throw new InvalidHandleError(
        `${this.backendName} backend: buffer '${String(b.label)}' does not match the buffer it names (${h.dtype} [${h.shape.join(', ')}])`,
      );
    }
    return e;
  }

  weight<E extends { readonly handle: DeviceWeight }>(entries: ReadonlyMap<number, E>, w: DeviceWeight): E {
    const e = w?.kind === 'weight' ? entries.get(w.id) : undefined;
    if (!e) return this.missing('weight', w);
    const h = e.handle;
    if (w !== h && (w.dtype !== h.dtype || String(w.shape) !== String(h.shape))) {
      throw new InvalidHandleError(
        `${this.backendName} backend: weight '${String(w.name)}' does not match the weight it names (${h.dtype} [${h.shape.join(', ')}])`,
      );
    }
    return e;
  }

  program<E extends { readonly handle: CompiledProgram }>(entries: ReadonlyMap<number, E>, p: CompiledProgram): E {
    const e = p?.kind === 'program' ? entries.get(p.id) : undefined;
    return e ?? this.missing('program', p);
  }

  /** A host write into `buffer`: the typed array must match its dtype and fit at `elementOffset`. */
  checkWrite(buffer: DeviceBuffer, data: Float32Array | Int32Array, elementOffset: number): void {
    const label = buffer.label;
    const want = buffer.dtype === 'f32' ? Float32Array : Int32Array;
    if (!(data instanceof want)) {
      throw new InvalidProgramError(`buffer '${label}' is ${buffer.dtype}: write a ${want.name}, not ${data?.constructor?.name ?? typeof data}`);
    }
    const count = buffer.shape[0] * buffer.shape[1];
    if (!Number.isInteger(elementOffset) || elementOffset < 0 || elementOffset + data.length > count) {
      throw new InvalidProgramError(`buffer '${label}': writing ${data.length} elements at offset ${elementOffset} overruns its ${count} elements`);
    }
  }

  private missing(kind: string, handle: { id?: unknown; label?: unknown; name?: unknown } | null | undefined): never {
    const name = handle?.label ?? handle?.name ?? handle?.id;
    if (handle && typeof handle === 'object' && this.issued.has(handle)) {
      throw new InvalidHandleError(`${this.backendName} backend: ${kind} '${String(name)}' was released`);
    }
    throw new InvalidHandleError(`${this.backendName} backend: ${kind} '${String(name)}' does not belong to this backend instance`);
  }
}
