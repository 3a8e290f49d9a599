import { readFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { createBackend, type Backend } from '@bitexit/backend';
import { FileAccessError } from '@bitexit/format';
import type { PipelineProgress } from '@bitexit/specee/node';
import { requireBackendInstalled, setupBackends } from '../backends.js';
import type { OutputStream } from '../io.js';
import { defaultModelPath, requirePath } from '../model.js';

export async function readText(path: string): Promise<string> {
  await requirePath(path, 'text file');
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new FileAccessError(path, `cannot read text file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
}

export async function resolveModel(model: string | undefined): Promise<string> {
  const path = model ?? (await defaultModelPath());
  await requirePath(path, 'model file');
  return path;
}

export async function backendFor(name: string): Promise<Backend> {
  await setupBackends();
  if (name !== 'auto') await requireBackendInstalled(name);
  return (await createBackend(name)).backend;
}

/** One bar for the collect and train stages of the SpecEE commands. */
export function stageBar(enabled: boolean, stderr: OutputStream, label: string) {
  if (!enabled) return { update: (_p: PipelineProgress) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      stream: stderr as unknown as NodeJS.WritableStream,
      format: `${label} {bar} {percentage}% | {stage} {value}/{total} {detail}`,
      hideCursor: stderr.isTTY === true,
      clearOnComplete: stderr.isTTY === true,
      noTTYOutput: true,
      notTTYSchedule: 1000,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  let stage = '';
  let started = false;
  return {
    update(p: PipelineProgress) {
      const payload = { stage: p.stage === 'collect' ? 'tokens' : 'layers', detail: p.detail ?? '' };
      if (!started || stage !== p.stage) {
        if (started) bar.stop();
        bar.start(Math.max(1, p.total), p.done, payload);
        started = true;
        stage = p.stage;
      } else bar.update(p.done, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
