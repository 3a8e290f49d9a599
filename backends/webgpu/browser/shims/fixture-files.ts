/**
 * The fixture files the harness server offers, as one manifest fetched before
 * the suite runs (so that synchronous calls such as `existsSync` can answer).
 * Paths seen by the suite are URL paths under `base`, e.g.
 * '/fixtures/stories260K/stories260K.gguf'.
 */
export interface FixtureManifest {
  /** URL path prefix, e.g. '/fixtures'. */
  base: string;
  /** Relative path ('stories260K/stories260K.gguf') → size in bytes. */
  files: Record<string, number>;
}

let manifest: FixtureManifest | null = null;

/** Fetches the manifest; a 404 means the server has no fixtures (the suite then skips its model checks). */
export async function loadFixtureManifest(url: string): Promise<FixtureManifest | null> {
  const r = await fetch(url);
  manifest = r.ok ? ((await r.json()) as FixtureManifest) : null;
  return manifest;
}

export function fixtureBase(): string | null {
  return manifest ? manifest.base : null;
}

function relative(path: string): string | null {
  if (!manifest) return null;
  const base = manifest.base.replace(/\/+$/, '');
  if (path === base) return '';
  if (!path.startsWith(`${base}/`)) return null;
  return path.slice(base.length + 1).replace(/\/+$/, '');
}

export type Entry = { kind: 'file'; size: number } | { kind: 'dir'; names: string[] };

/** What is at `path`, or null. */
export function lookup(path: string): Entry | null {
  const rel = relative(path);
  if (rel === null || !manifest) return null;
  const size = manifest.files[rel];
  if (size !== undefined) return { kind: 'file', size };
  const prefix = rel === '' ? '' : `${rel}/`;
  const names = new Set<string>();
  for (const f of Object.keys(manifest.files)) if (f.startsWith(prefix)) names.add(f.slice(prefix.length).split('/')[0]);
  return names.size ? { kind: 'dir', names: [...names].sort() } : null;
}

/** An Error shaped like Node's fs errors (the engine maps `code` to a plain reason). */
export function fsError(code: 'ENOENT' | 'EISDIR' | 'EROFS', path: string): Error {
  return Object.assign(new Error(`${code}: ${path}`), { code, path });
}

/** The whole file (fixtures are small; no range requests needed). */
export async function fetchBytes(path: string): Promise<Uint8Array> {
  const e = lookup(path);
  if (!e) throw fsError('ENOENT', path);
  if (e.kind === 'dir') throw fsError('EISDIR', path);
  const r = await fetch(path);
  if (!r.ok) throw new Error(`GET ${path}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}
