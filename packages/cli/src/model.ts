import { stat } from 'node:fs/promises';
import { FileAccessError } from '@bitexit/format';
import { loadModel, type LoadConversion, type Model } from '@bitexit/engine';
import { requireBackendInstalled, setupBackends } from './backends.js';
import { UsageError } from './errors.js';
import type { OutputStream } from './io.js';
import { formatBytes, loadProgress, progressEnabled } from './progress.js';

export const DEMO_MODEL_PACKAGE = '@bitexit/model-demo';
export const NO_DEFAULT_MODEL_MESSAGE =
  'no embedded default model is installed yet: pass --model PATH (try --model ../shared/fixtures/stories260K/stories260K.gguf)';

/** Checks that a path given on the command line exists, so the user sees their own path in the error. */
export async function requirePath(path: string, what: string): Promise<void> {
  try {
    await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const problem = code === 'ENOENT' ? `${what} not found` : `cannot read ${what} (${code ?? (e as Error).message})`;
    throw new FileAccessError(path, problem, { cause: e });
  }
}

/**
 * The model to use when --model is not given: the one shipped in
 * @bitexit/model-demo, when that package is installed. It exports
 * `demoModelPath()` (or `modelPath` / a default export that is the path).
 */
export async function defaultModelPath(pkg: string = DEMO_MODEL_PACKAGE): Promise<string> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.includes(pkg) || (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new UsageError(NO_DEFAULT_MODEL_MESSAGE);
    }
    throw e;
  }
  const fromFunction = typeof mod.demoModelPath === 'function' ? (mod.demoModelPath as () => unknown)() : undefined;
  const candidates = [fromFunction, mod.modelPath, mod.default, (mod.default as { modelPath?: unknown } | undefined)?.modelPath];
  const path = candidates.find((c): c is string => typeof c === 'string');
  if (!path) throw new UsageError(`${pkg} exports no model path: pass --model PATH`);
  try {
    await stat(path);
  } catch {
    throw new UsageError(`the embedded default model ${path} is missing (${pkg} is installed without its model file): pass --model PATH`);
  }
  return path;
}

/** Whether `bitexit run` without --model has a model to run (for tests and `doctor`). */
export async function hasDefaultModel(): Promise<boolean> {
  return defaultModelPath().then(
    () => true,
    () => false,
  );
}

export interface LoadOptions {
  model?: string;
  tokenizer?: string;
  backend: string;
  context?: number;
  progress: boolean;
  stderr: OutputStream;
}

/** The one stderr line saying what loading converted (never silent). */
export function conversionNotice(path: string, c: LoadConversion): string {
  return (
    `bitexit: converted ${c.tensors} tensors stored as ${c.from.join(', ')} to ${c.to} at load, ` +
    (c.rounded.length ? `${c.rounded.join(', ')} rounded to its grid ` : 'exactly ') +
    `(${formatBytes(c.fileBytes)} in the file, ${formatBytes(c.loadedBytes)} in memory); ` +
    `to load without converting, quantize it once: bitexit quantize ${path} -o out.gguf`
  );
}

export async function loadForCli(o: LoadOptions): Promise<{ model: Model; loadMs: number }> {
  const path = o.model ?? (await defaultModelPath());
  await requirePath(path, 'model file');
  if (o.tokenizer) await requirePath(o.tokenizer, 'tokenizer file');
  await setupBackends();
  if (o.backend !== 'auto') await requireBackendInstalled(o.backend);
  const bar = loadProgress(o.progress, o.stderr);
  const t0 = performance.now();
  let model: Model;
  try {
    model = await loadModel(path, {
      backend: o.backend,
      ...(o.tokenizer ? { tokenizerPath: o.tokenizer } : {}),
      ...(o.context ? { contextLength: o.context } : {}),
      onProgress: (p) => bar.update(p),
    });
  } finally {
    bar.stop();
  }
  const conv = model.info.conversion;
  if (conv) o.stderr.write(conversionNotice(path, conv) + '\n');
  return { model, loadMs: performance.now() - t0 };
}

/** The model flags every generating command takes (-m, --tokenizer, --backend, -c, --[no-]progress). */
export interface ModelFlags {
  model?: string;
  tokenizer?: string;
  backend: string;
  context?: number;
  progress?: boolean;
}

/** loadForCli for a command's own flags: the progress bar follows --[no-]progress and whether stderr is a terminal. */
export function loadFromFlags(flags: ModelFlags, stderr: OutputStream): Promise<{ model: Model; loadMs: number }> {
  return loadForCli({
    model: flags.model,
    tokenizer: flags.tokenizer,
    backend: flags.backend,
    context: flags.context,
    progress: progressEnabled(flags.progress, stderr),
    stderr,
  });
}
