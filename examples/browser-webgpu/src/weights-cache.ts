/**
 * Model bytes for the page: downloaded with progress, kept in the browser's
 * Cache API so a reload does not download them again. The Cache API (rather
 * than OPFS) because it stores a URL → Response pair directly, works in every
 * current browser on http://localhost and https, and is cleared with one call.
 * Picked files are cached too, under a synthetic URL, so they can be reloaded
 * without picking them again.
 */

const CACHE_NAME = 'bitexit-weights-v1';
const LOCAL_PREFIX = '/__bitexit-local-file/';

export type Progress = (loaded: number, total: number) => void;

function cacheAvailable(): boolean {
  return typeof caches !== 'undefined';
}

/** Reads a response body into one buffer, reporting progress (total 0 when the server sends no length). */
async function readAll(response: Response, total: number, onProgress: Progress): Promise<Uint8Array<ArrayBuffer>> {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    onProgress(loaded, total);
  }
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export interface Fetched {
  bytes: Uint8Array<ArrayBuffer>;
  fromCache: boolean;
}

/** The bytes at `url`, from the cache when present, else downloaded (with progress) and cached. */
export async function fetchModel(url: string, onProgress: Progress): Promise<Fetched> {
  const absolute = new URL(url, location.href).href;
  const cache = cacheAvailable() ? await caches.open(CACHE_NAME) : null;
  const hit = await cache?.match(absolute);
  if (hit) {
    const total = Number(hit.headers.get('content-length') ?? 0);
    return { bytes: await readAll(hit, total, onProgress), fromCache: true };
  }
  const response = await fetch(absolute);
  if (!response.ok) throw new Error(`downloading ${url} failed: HTTP ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get('content-length') ?? 0);
  const bytes = await readAll(response, total, onProgress);
  await cache?.put(absolute, new Response(bytes, { headers: { 'content-length': String(bytes.byteLength) } })).catch((e: Error) => {
    // A full quota must not stop the model from loading: it only costs a new download next time.
    console.warn(`could not cache ${url}: ${e.message}`);
  });
  return { bytes, fromCache: false };
}

/** Reads a picked file (progress while reading) and caches it under a synthetic URL. */
export async function readPickedFile(file: File, onProgress: Progress): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = await readAll(new Response(file), file.size, onProgress);
  if (cacheAvailable()) {
    const cache = await caches.open(CACHE_NAME);
    const key = new URL(`${LOCAL_PREFIX}${encodeURIComponent(file.name)}`, location.href).href;
    await cache.put(key, new Response(bytes, { headers: { 'content-length': String(bytes.byteLength) } })).catch(() => undefined);
  }
  return bytes;
}

export interface CachedEntry {
  /** URL to pass to fetchModel. */
  url: string;
  /** Display name. */
  name: string;
  bytes: number;
}

export async function listCached(): Promise<CachedEntry[]> {
  if (!cacheAvailable()) return [];
  const cache = await caches.open(CACHE_NAME);
  const out: CachedEntry[] = [];
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    const u = new URL(req.url);
    const name = u.pathname.startsWith(LOCAL_PREFIX) ? decodeURIComponent(u.pathname.slice(LOCAL_PREFIX.length)) : req.url;
    out.push({ url: req.url, name, bytes: Number(res?.headers.get('content-length') ?? 0) });
  }
  return out;
}

/** Removes every cached model. */
export async function clearCache(): Promise<void> {
  if (cacheAvailable()) await caches.delete(CACHE_NAME);
}
