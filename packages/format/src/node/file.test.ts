import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileAccessError, ModelFormatError } from '../errors.js';
import { encodeGguf } from '../gguf/writer.js';
import { readGguf } from '../gguf/reader.js';
import { syntheticSpec } from '../gguf/testing.js';
import { createFileSink, openFileSource } from './file.js';
import { fixturePath } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'bitexit-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GGUF = fixturePath('stories260K/stories260K.gguf');

describe('openFileSource', () => {
  it.skipIf(!GGUF)('reads ranges of a real file', async () => {
    const whole = readFileSync(GGUF!);
    const src = await openFileSource(GGUF!);
    expect(src.size).toBe(whole.length);
    expect(src.name).toBe(GGUF);
    expect(Buffer.from(await src.read(1000, 5000)).equals(whole.subarray(1000, 6000))).toBe(true);
    expect((await src.read(whole.length, 0)).length).toBe(0);
    await expect(src.read(whole.length - 2, 4)).rejects.toThrow(ModelFormatError);
    await expect(src.read(-1, 4)).rejects.toThrow(ModelFormatError);
    const g = await readGguf(src);
    expect(g.tensors.length).toBe(48);
    await src.close?.();
    await expect(src.read(0, 4)).rejects.toThrow(FileAccessError);
  });

  it('reports missing files and directories as FileAccessError naming the path', async () => {
    const missing = join(dir, 'nope.gguf');
    const e = await openFileSource(missing).catch((x) => x);
    expect(e).toBeInstanceOf(FileAccessError);
    expect(e.code).toBe('E_FILE_ACCESS');
    expect(e.message).toBe(`${missing}: file not found`);
    const d = await openFileSource(dir).catch((x) => x);
    expect(d).toBeInstanceOf(FileAccessError);
    expect(d.message).toMatch(/directory/);
  });
});

describe('createFileSink', () => {
  it('streams a GGUF to disk identical to encodeGguf', async () => {
    const path = join(dir, 'out.gguf');
    const { writeGguf } = await import('../gguf/writer.js');
    await writeGguf(await createFileSink(path), syntheticSpec());
    expect(Buffer.from(readFileSync(path)).equals(Buffer.from(await encodeGguf(syntheticSpec())))).toBe(true);
    const src = await openFileSource(path);
    expect((await readGguf(src)).tensors.length).toBe(5);
    await src.close?.();
  });

  it('fails with FileAccessError when the directory does not exist', async () => {
    const e = await createFileSink(join(dir, 'no', 'such', 'dir', 'x.gguf')).catch((x) => x);
    expect(e).toBeInstanceOf(FileAccessError);
    expect(e.message).toMatch(/x\.gguf: file not found/);
  });
});
