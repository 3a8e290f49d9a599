/**
 * Node-only entry points (file system). Node modules are imported lazily so
 * that importing @bitexit/engine in a browser bundle does not pull in `fs`.
 */
import { FileAccessError, ModelFormatError } from '@bitexit/format';
import type { ByteSource } from '@bitexit/format';
import type { ModelDirectory } from './directory.js';
import { openGgufModel } from './gguf.js';
import { openHuggingFaceModel } from './huggingface.js';
import { openLlama2cModel } from './llama2c.js';
import { convertToGguf } from './convert.js';
import type { ConvertOptions, ConvertResult } from './convert.js';
import type { ModelSource } from './types.js';

export interface OpenModelOptions {
  /**
   * Tokenizer file for formats that do not carry one (llama2.c checkpoints).
   * Default: tokenizer.bin, tok{vocab}.bin or a single tok*.bin beside the checkpoint.
   */
  tokenizerPath?: string;
}

const fsp = () => import('node:fs/promises');
const pathMod = () => import('node:path');
const formatNode = () => import('@bitexit/format/node');

function accessError(path: string, e: unknown): FileAccessError {
  const code = (e as { code?: string }).code;
  const why =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'ENOTDIR'
          ? 'not a directory'
          : `cannot read (${(e as Error).message})`;
  return new FileAccessError(path, why, { cause: e });
}

async function openSource(path: string): Promise<ByteSource> {
  const { openFileSource } = await formatNode();
  try {
    return await openFileSource(path);
  } catch (e) {
    if (e instanceof FileAccessError || e instanceof ModelFormatError) throw e;
    throw accessError(path, e);
  }
}

/** A ModelDirectory over a local folder. */
export async function nodeModelDirectory(dir: string): Promise<ModelDirectory> {
  const fs = await fsp();
  const { join } = await pathMod();
  return {
    name: dir,
    join: (file) => join(dir, file),
    readText: async (file) => {
      const p = join(dir, file);
      try {
        return await fs.readFile(p, 'utf8');
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ENOENT') return null;
        throw accessError(p, e);
      }
    },
    open: (file) => openSource(join(dir, file)),
  };
}

async function findLlama2cTokenizer(checkpoint: string, vocabSize: number): Promise<string | null> {
  const fs = await fsp();
  const { dirname, join } = await pathMod();
  const dir = dirname(checkpoint);
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return null;
  }
  for (const n of ['tokenizer.bin', `tok${vocabSize}.bin`]) if (names.includes(n)) return join(dir, n);
  const toks = names.filter((n) => /^tok.*\.bin$/.test(n) && join(dir, n) !== checkpoint);
  return toks.length === 1 ? join(dir, toks[0]) : null;
}

/**
 * Opens a model file or directory, detecting the format:
 * a directory with config.json (or a file inside one such as config.json or
 * model.safetensors) → Hugging Face; a file starting with 'GGUF' → GGUF;
 * any other file → llama2.c v0 checkpoint (tokenizer from `tokenizerPath`,
 * else tokenizer.bin / tok{vocab}.bin / a single tok*.bin beside it, else none).
 * Reads headers only. Throws FileAccessError, ModelFormatError,
 * UnsupportedArchitectureError or UnsupportedTensorTypeError naming the file.
 */
export async function openModel(path: string, options: OpenModelOptions = {}): Promise<ModelSource> {
  const fs = await fsp();
  const { basename, dirname, join, resolve } = await pathMod();
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    throw accessError(path, e);
  }
  if (st.isDirectory()) {
    try {
      await fs.access(join(path, 'config.json'));
    } catch {
      throw new ModelFormatError(path, 'directory has no config.json (expected a Hugging Face model directory, a .gguf file or a llama2.c checkpoint)');
    }
    return openHuggingFaceModel(await nodeModelDirectory(path));
  }
  if (!st.isFile()) throw new FileAccessError(path, 'not a regular file or directory');

  const base = basename(path);
  if (base === 'config.json' || /\.safetensors$/.test(base) || base === 'model.safetensors.index.json') {
    const dir = dirname(path);
    try {
      await fs.access(join(dir, 'config.json'));
    } catch {
      throw new ModelFormatError(path, `is part of a Hugging Face model but ${join(dir, 'config.json')} is missing`);
    }
    return openHuggingFaceModel(await nodeModelDirectory(dir));
  }

  const source = await openSource(path);
  let magic: Uint8Array;
  try {
    magic = source.size >= 4 ? await source.read(0, 4) : new Uint8Array(0);
  } catch (e) {
    await source.close?.();
    throw e;
  }
  if (magic.length === 4 && String.fromCharCode(...magic) === 'GGUF') return openGgufModel(source, { path });

  const tokenizerPath = options.tokenizerPath;
  try {
    return await openLlama2cModel(source, {
      path,
      tokenizer: async (vocabSize) => {
        if (tokenizerPath !== undefined) return openSource(tokenizerPath);
        const found = await findLlama2cTokenizer(resolve(path), vocabSize);
        return found ? openSource(found) : null;
      },
    });
  } catch (e) {
    // A file that is neither: say both things it is not.
    if (e instanceof ModelFormatError && e.file === path) {
      const problem = e.message.startsWith(`${path}: `) ? e.message.slice(path.length + 2) : e.message;
      throw new ModelFormatError(path, `not a GGUF file (no 'GGUF' magic) and not a valid llama2.c checkpoint: ${problem}`, { cause: e });
    }
    throw e;
  }
}

/**
 * Converts a model file or directory to a GGUF file. Writes to
 * `outputPath + '.partial'` and renames at the end, so a failed conversion
 * never leaves a truncated GGUF behind.
 */
export async function convertModelFile(
  inputPath: string,
  outputPath: string,
  options: ConvertOptions & OpenModelOptions = {},
): Promise<ConvertResult> {
  const fs = await fsp();
  const { createFileSink } = await formatNode();
  const source = await openModel(inputPath, options);
  const partial = `${outputPath}.partial`;
  let sink: Awaited<ReturnType<typeof createFileSink>> | undefined;
  let done = false;
  try {
    try {
      sink = await createFileSink(partial);
    } catch (e) {
      if (e instanceof FileAccessError) throw e;
      throw accessError(partial, e);
    }
    const result = await convertToGguf(source, sink, options);
    done = true;
    await fs.rename(partial, outputPath);
    return result;
  } catch (e) {
    if (sink && !done) await sink.close().catch(() => undefined);
    await fs.rm(partial, { force: true }).catch(() => undefined);
    throw e;
  } finally {
    await source.close();
  }
}
