/**
 * The GPU bundle's entry point (bundled into one file by scripts/gpu-bundle.mjs,
 * with `vitest` mapped to @bitexit/conformance/standalone): runs the CUDA conformance suite
 * and the benchmarks, prints a summary and writes everything as JSON.
 * Usage: node bitexit-cuda-check.mjs [results.json] [--no-bench] [--no-conformance] [--no-models] [--small]
 * Exit status: 0 all passed, 1 failures, 2 CUDA unavailable.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { defineConformanceSuite } from '@bitexit/conformance';
import { loadModel } from '@bitexit/engine';
import { createCudaBackendInstance, cudaBackendProvider, loadNative } from '../src/index.js';
import { BATCHES, LLAMA2_7B, SMALL_SHAPES, benchCopyBandwidth, benchDecode, benchMatvec, type DecodeConfig } from './bench.js';
import { runAndSummarize } from '@bitexit/conformance/standalone';

const args = process.argv.slice(2);

/**
 * A whole bx-quantized model (stories260K at 3.3 bits, written by gpu:bundle with
 * `bitexit quantize`): greedy tokens on CUDA must equal the CPU backend's.
 */
async function quantizedModelCheck(log: (s: string) => void): Promise<Record<string, unknown>> {
  const dir = process.env.BITEXIT_FIXTURES;
  const path = dir ? join(dir, 'bx', 'stories260K-3.3.gguf') : '';
  if (!path || !existsSync(path)) {
    log('quantized model check skipped: no bx/stories260K-3.3.gguf in the fixtures (made by npm run gpu:bundle)');
    return { status: 'skipped' };
  }
  const prompt = 'Once upon a time';
  const greedy = async (backend: Awaited<ReturnType<typeof createCpuBackend>>) => {
    const model = await loadModel(path, { backend });
    try {
      return (await model.generate(prompt, { temperature: 0, maxTokens: 128 }).result).tokens;
    } finally {
      await model.dispose();
      await backend.dispose();
    }
  };
  const cpu = await greedy(await createCpuBackend());
  const cuda = await greedy(await createCudaBackendInstance());
  const firstDiff = cpu.findIndex((t, i) => t !== cuda[i]);
  const same = cpu.length === cuda.length && firstDiff < 0;
  log(`quantized stories260K (bx, 3.3 bits): greedy ${cuda.length} tokens on CUDA ${same ? 'equal the CPU backend' : `differ from the CPU backend at token ${firstDiff}`}`);
  return { status: same ? 'passed' : 'failed', path, prompt, cpu, cuda };
}
const outFile = args.find((a) => !a.startsWith('--')) ?? 'bitexit-cuda-results.json';
const log = (s: string) => console.log(s);

async function main(): Promise<number> {
  const result: Record<string, unknown> = {
    when: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
  const load = loadNative();
  result.addon = load.ok ? { path: load.path, ...load.addon.buildInfo() } : { error: load.reason };
  const availability = await cudaBackendProvider.probe();
  result.availability = availability;
  if (!availability.ok) {
    log(`CUDA unavailable: ${availability.reason}`);
    result.status = 'unavailable';
    writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
    log(`wrote ${outFile}`);
    return 2;
  }
  log(`CUDA: ${availability.detail}`);
  let failed = 0;
  if (!args.includes('--no-conformance')) {
    defineConformanceSuite({ provider: cudaBackendProvider, models: !args.includes('--no-models'), cpuReference: createCpuBackend });
    const summary = await runAndSummarize(log);
    failed = summary.failed;
    result.conformance = summary;
  }
  if (!args.includes('--no-models')) {
    try {
      const q = await quantizedModelCheck(log);
      result.quantizedModel = q;
      if (q.status === 'failed') failed++;
    } catch (e) {
      log(`quantized model check failed: ${(e as Error).stack ?? e}`);
      result.quantizedModel = { status: 'failed', error: String(e) };
      failed++;
    }
  }
  if (!args.includes('--no-bench')) {
    const b = await createCudaBackendInstance();
    try {
      // --small: tiny shapes, to smoke-test this code (numbers meaningless).
      const small = args.includes('--small');
      const model: DecodeConfig = small ? { layers: 4, dim: 64, ffn: 128, vocab: 64, heads: 4, context: 32 } : LLAMA2_7B;
      const copy = await benchCopyBandwidth(b, small ? 2 ** 20 : 512 * 2 ** 20);
      log(`cudaMemcpy device-to-device: ${copy.gbPerS.toFixed(0)} GB/s (read + write)`);
      const matvec = await benchMatvec(b, copy.gbPerS, log, small ? SMALL_SHAPES : undefined);
      const decode: Record<string, unknown>[] = [];
      const runs: [string, 'f16' | 'bx', boolean][] = [
        ['f16', 'f16', false],
        ['bx', 'bx', false],
        ['bx+exit', 'bx', true],
      ];
      const tps: Record<string, number> = {};
      for (const [name, dtype, exit] of runs) {
        try {
          const r = await benchDecode(b, model, dtype, small ? 4 : 64, log, exit);
          tps[name] = r.tokensPerSecond;
          decode.push({ name, ...r });
        } catch (e) {
          log(`decode ${name} failed: ${(e as Error).message}`);
          decode.push({ name, error: (e as Error).message });
          failed++;
        }
      }
      const speedup = tps.f16 && tps.bx ? tps.bx / tps.f16 : null;
      const speedupExit = tps.f16 && tps['bx+exit'] ? tps['bx+exit'] / tps.f16 : null;
      if (speedup) log(`decode speedup over f16: bx ${speedup.toFixed(2)}x${speedupExit ? `, bx + early exit ${speedupExit.toFixed(2)}x` : ''}`);
      result.bench = {
        copy,
        batches: BATCHES,
        matvec,
        decode: { model, runs: decode, speedupBxOverF16: speedup, speedupBxExitOverF16: speedupExit },
      };
    } catch (e) {
      log(`benchmarks failed: ${(e as Error).stack ?? e}`);
      result.benchError = String(e);
      failed++;
    } finally {
      await b.dispose();
    }
  }
  result.status = failed ? 'failed' : 'passed';
  writeFileSync(outFile, JSON.stringify(result, null, 2) + '\n');
  log(`wrote ${outFile}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
