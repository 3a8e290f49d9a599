/**
 * Browser stand-in for '@bitexit/format/node': fixture lookup and file
 * sources over the harness server's /fixtures, so the conformance suite and
 * the engine's path-based loaders run unchanged in the page.
 */
import { FileAccessError, MemoryByteSource, type ByteSink, type ByteSource } from '@bitexit/format';
import { fetchBytes, fixtureBase, lookup } from './fixture-files.js';

export function fixturesDir(): string | null {
  return fixtureBase();
}

export function fixturePath(relative: string): string | null {
  const base = fixtureBase();
  if (base === null) return null;
  const p = `${base}/${relative}`;
  return lookup(p)?.kind === 'file' ? p : null;
}

export async function openFileSource(path: string): Promise<ByteSource> {
  const e = lookup(path);
  if (!e) throw new FileAccessError(path, 'no such file or directory');
  if (e.kind === 'dir') throw new FileAccessError(path, 'is a directory');
  return new MemoryByteSource(path, await fetchBytes(path));
}

export async function createFileSink(path: string): Promise<ByteSink> {
  throw new FileAccessError(path, 'writing files is not possible in the browser harness');
}
