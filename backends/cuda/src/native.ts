/**
 * Loading the compiled addon (build/Release/bitexit_cuda.node). Loading never
 * throws: when the addon is missing (no nvcc at install time) or cannot be
 * loaded, `loadNative()` returns the plain reason instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Probe answer of the addon itself (driver and device checks). */
export type NativeProbe =
  | { ok: true; detail: string; name: string; sms: number; totalBytes: number }
  | { ok: false; reason: string };

export interface NativeRunResult {
  /** [code, arg, row]: code 1 = token id out of the vocabulary. */
  error: [number, number, number];
  outputs: ArrayBuffer[];
}

/** One device context (stream, allocations, programs). Ids are native allocation/program ids. */
export interface NativeContext {
  alloc(bytes: number): number;
  uploadWeight(dtype: number, rows: number, cols: number, data: Uint8Array): Promise<number>;
  write(id: number, data: Float32Array | Int32Array, byteOffset: number): void;
  read(id: number): Promise<ArrayBuffer>;
  free(id: number): void;
  compile(records: Float64Array, maxRows: number): number;
  run(program: number, scalars: Float64Array, inputs: [number, Float32Array | Int32Array][], outputs: [number, number][]): Promise<NativeRunResult>;
  releaseProgram(program: number): void;
  memInfo(): [free: number, total: number];
  benchMatvec(weight: number, x: number, out: number, xsum: number, rows: number, iters: number, splits: number): Promise<number>;
  benchCopy(bytes: number, iters: number): Promise<number>;
  dispose(): void;
}

export interface NativeAddon {
  probe(): NativeProbe;
  buildInfo(): { cudaRuntime: string; archs: string };
  Context: new (device: number) => NativeContext;
}

export type NativeLoad = { ok: true; addon: NativeAddon; path: string } | { ok: false; reason: string };

const cache = new Map<string, NativeLoad>();

/** Where the addon is: BITEXIT_CUDA_ADDON (the GPU bundle sets it), else the package's build folder. */
export function addonPath(): string {
  if (process.env.BITEXIT_CUDA_ADDON) return process.env.BITEXIT_CUDA_ADDON;
  // src/ and dist/ are both one level below the package root.
  return fileURLToPath(new URL('../build/Release/bitexit_cuda.node', import.meta.url));
}

function buildStatusReason(): string | undefined {
  try {
    const file = fileURLToPath(new URL('../build/addon-status.json', import.meta.url));
    const s = JSON.parse(readFileSync(file, 'utf8')) as { built?: boolean; reason?: string };
    return s.built === false ? s.reason : undefined;
  } catch {
    return undefined;
  }
}

/** Loads the addon at `path` (default: addonPath()), once per path. Never throws. */
export function loadNative(path: string = addonPath()): NativeLoad {
  const hit = cache.get(path);
  if (hit) return hit;
  let result: NativeLoad;
  if (!existsSync(path)) {
    result = { ok: false, reason: buildStatusReason() ?? `built without CUDA: the addon ${path} does not exist (run \`npm rebuild @bitexit/backend-cuda\` where the CUDA toolkit and cmake are installed)` };
  } else {
    try {
      const require = createRequire(import.meta.url);
      result = { ok: true, addon: require(path) as NativeAddon, path };
    } catch (e) {
      result = { ok: false, reason: `the CUDA addon failed to load: ${(e as Error).message}` };
    }
  }
  cache.set(path, result);
  return result;
}
