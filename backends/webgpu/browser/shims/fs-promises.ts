/** Browser stand-in for 'node:fs/promises' (read-only, what the engine and the suite use), over the fixture manifest. */
import { fetchBytes, fsError, lookup } from './fixture-files.js';

export async function readFile(path: string, encoding?: string | { encoding?: string }): Promise<Uint8Array | string> {
  const bytes = await fetchBytes(path);
  const enc = typeof encoding === 'string' ? encoding : encoding?.encoding;
  return enc ? new TextDecoder().decode(bytes) : bytes;
}

export async function stat(path: string) {
  const e = lookup(path);
  if (!e) throw fsError('ENOENT', path);
  return { size: e.kind === 'file' ? e.size : 0, isFile: () => e.kind === 'file', isDirectory: () => e.kind === 'dir' };
}

export async function access(path: string): Promise<void> {
  if (!lookup(path)) throw fsError('ENOENT', path);
}

export async function readdir(path: string): Promise<string[]> {
  const e = lookup(path);
  if (!e) throw fsError('ENOENT', path);
  if (e.kind !== 'dir') throw Object.assign(new Error(`ENOTDIR: ${path}`), { code: 'ENOTDIR', path });
  return e.names;
}

const readOnly = async (path: string): Promise<never> => {
  throw fsError('EROFS', path);
};
export const writeFile = readOnly;
export const rename = readOnly;
export const rm = readOnly;
export const mkdir = readOnly;
export default { readFile, stat, access, readdir, writeFile, rename, rm, mkdir };
