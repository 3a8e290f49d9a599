import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { isBitexitError } from '@bitexit/format';
import { chatCommand, type ChatCliOptions } from './commands/chat.js';
import { doctorCommand } from './commands/doctor.js';
import { evalExitsCommand, type EvalExitsCliOptions } from './commands/eval-exits.js';
import { evalPplCommand, type EvalPplOptions } from './commands/eval-ppl.js';
import { inspectCommand, type InspectOptions } from './commands/inspect.js';
import { quantizeCommand, type QuantizeCliOptions } from './commands/quantize.js';
import { runCommand, type RunOptions } from './commands/run.js';
import { serveCommand, type ServeOptions } from './commands/serve.js';
import { trainExitsCommand, type TrainExitsCliOptions } from './commands/train-exits.js';
import { EXIT_FAILURE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, isSystemFileError, oneLine } from './errors.js';
import type { CliIO } from './io.js';
import {
  BACKEND_CHOICES,
  collect,
  resolveDeprecatedAliases,
  type DeprecatedAlias,
  nonNegativeFloat,
  nonNegativeInt,
  positiveFloat,
  positiveInt,
  seed,
  unitInterval,
} from './options.js';

/** Same path from src/cli.ts and from dist/*.js: the package root is one level up. */
export const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

type Action = () => Promise<number>;

/** A deprecated spelling: accepted, hidden from --help, reported by `deprecated()` when used. */
function hidden<T>(flags: string, parse: (value: string, previous: T) => T): Option {
  return new Option(flags).argParser(parse).hideHelp();
}

function collectUnitInterval(value: string, previous: number[] | undefined): number[] {
  return [...(previous ?? []), unitInterval(value)];
}

/** The model of `inspect` / `quantize`: the positional argument or -m/--model (the canonical flag), not both. */
function modelArgument(positional: string | undefined, flag: string | undefined, command: string): string {
  if (positional !== undefined && flag !== undefined && positional !== flag) throw new UsageError(`${command}: give the model once (MODEL or --model)`);
  const model = positional ?? flag;
  if (model === undefined) throw new UsageError(`${command}: missing the model (bitexit ${command} MODEL, or --model PATH)`);
  return model;
}

/** The sampling flags of the generating commands (run, chat), declared once. */
function withSamplingFlags(cmd: Command): Command {
  return cmd
    .option('-t, --temperature <t>', 'sampling temperature; 0 = greedy', nonNegativeFloat, 0.8)
    .option('--top-k <k>', 'sample among the k most likely tokens (0 = off)', nonNegativeInt)
    .option('--top-p <p>', 'nucleus sampling: smallest set with probability >= p', unitInterval)
    .option('--min-p <p>', 'drop tokens less likely than p x the most likely one', unitInterval)
    .option('--repeat-penalty <r>', 'penalty for recently generated tokens (1 = off)', positiveFloat)
    .option('-s, --seed <s>', 'random seed (default: random, printed with the stats)', seed)
    .option('--stop <text>', 'stop before this string (repeatable)', collect);
}

/** The SpecEE early-exit flags of run, chat and serve, declared once. */
function withEarlyExitFlags(cmd: Command): Command {
  return cmd
    .option('--early-exit', 'decode with SpecEE early exit (predictors from --exits, MODEL.exits.gguf, or inside the model)')
    .option('--exits <file>', 'exit predictors written by train-exits (with --early-exit)')
    .option('--exit-threshold <x>', "predictor threshold (default: the exits file's)", unitInterval)
    .addOption(new Option('--kv-policy <policy>', 'K/V of skipped layers: propagate (computed from the exit state) or mask').choices(['propagate', 'mask']));
}

function backendOption(): Option {
  return new Option('--backend <name>', 'compute backend').choices([...BACKEND_CHOICES]).default('auto');
}

/**
 * Builds a fresh commander program writing to `io`. Command actions do not
 * run here: the chosen one is stored in `setAction` and awaited by `main`, so
 * its errors are classified in one place.
 */
export function buildProgram(io: CliIO, setAction: (a: Action) => void): Command {
  const deprecated = <T extends object>(opts: T, aliases: readonly DeprecatedAlias[]): T =>
    resolveDeprecatedAliases(opts, aliases, io.stderr, (m) => {
      throw new UsageError(m);
    });
  const program = new Command('bitexit');
  program
    .description('Run Llama-family language models on CPU, WebGPU and CUDA.')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`bitexit: ${oneLine(s.replace(/^error: /, ''))}\n`),
      getOutHasColors: () => false,
      getErrHasColors: () => false,
      getOutHelpWidth: () => io.stdout.columns ?? 80,
      getErrHelpWidth: () => io.stderr.columns ?? 80,
    })
    .showHelpAfterError(false)
    .allowExcessArguments(false);

  const runCmd = program
    .command('run')
    .description('generate text: streams the prompt and its continuation to stdout, stats to stderr')
    .option('-m, --model <path>', 'model file (.gguf, llama2.c .bin) or Hugging Face directory (default: the embedded demo model)')
    .option('--tokenizer <path>', 'tokenizer file for formats without one (llama2.c tokenizer.bin)')
    .option('-p, --prompt <text>', "prompt text; '-' reads standard input (default: standard input when it is piped, else empty, i.e. BOS only)")
    .option('-n, --max-tokens <n>', 'most tokens to generate (default: 256, or the context left after the prompt when less)', positiveInt);
  withSamplingFlags(runCmd);
  runCmd
    .option('-c, --context <n>', 'KV-cache length in tokens (default: min(model context, 2048))', positiveInt)
    .option('--chat', "treat the prompt as a user message and apply the model's chat template");
  withEarlyExitFlags(runCmd);
  runCmd
    .addOption(backendOption())
    .option('--json', 'print one JSON object {text, prompt_token_ids, token_ids, stats} instead of streaming')
    .option('--progress', 'show the load progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((opts: RunOptions) => setAction(() => runCommand(opts, io)));

  const serveCmd = program
    .command('serve')
    .description('OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health')
    .option('-m, --model <path>', 'model file (.gguf, llama2.c .bin) or Hugging Face directory (default: the embedded demo model)')
    .option('--tokenizer <path>', 'tokenizer file for formats without one (llama2.c tokenizer.bin)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'TCP port (0 = any free port)', nonNegativeInt, 8080)
    .option('--api-key <key>', 'require Authorization: Bearer KEY on /v1 (default: $BITEXIT_API_KEY, else none)')
    .option('--chat-template <file|name>', "Jinja chat template file or built-in name (chatml, llama2, plain); overrides the model's")
    .option('-c, --context <n>', 'KV-cache length in tokens (default: min(model context, 2048))', positiveInt)
    .option('--max-queue <n>', 'requests that may wait behind the running one; more get 429', nonNegativeInt, 16)
    .option('--cors <origin>', 'allow browser requests from this origin (* for any)');
  withEarlyExitFlags(serveCmd);
  serveCmd
    .addOption(backendOption())
    .option('--progress', 'show the load progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((opts: ServeOptions) => setAction(() => serveCommand(opts, io)));

  const chatCmd = program
    .command('chat')
    .description('chat with the model: a REPL in a terminal; with piped stdin, one answer to the message read from it')
    .option('-m, --model <path>', 'model file (.gguf, llama2.c .bin) or Hugging Face directory (default: the embedded demo model)')
    .option('--tokenizer <path>', 'tokenizer file for formats without one (llama2.c tokenizer.bin)')
    .option('--system <text>', 'system prompt')
    .option('--chat-template <file|name>', "Jinja chat template file or built-in name (chatml, llama2, plain) (default: the model's own)")
    .option('-n, --max-tokens <n>', 'most tokens per answer', positiveInt, 256);
  withSamplingFlags(chatCmd);
  chatCmd
    .option('-c, --context <n>', 'KV-cache length in tokens (default: min(model context, 2048)); older turns are dropped when it fills', positiveInt);
  withEarlyExitFlags(chatCmd);
  chatCmd
    .addOption(backendOption())
    .option('--progress', 'show the load progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((opts: ChatCliOptions) => setAction(() => chatCommand(opts, io)));

  program
    .command('inspect')
    .description('describe a model: architecture, hyperparameters, tensors, size, bits per weight, tokenizer')
    .argument('[model]', 'model file (.gguf, llama2.c .bin) or Hugging Face directory (or -m PATH)')
    .option('-m, --model <path>', 'the model (same as the MODEL argument)')
    .option('--tokenizer <path>', 'tokenizer file for formats without one (llama2.c tokenizer.bin)')
    .option('--json', 'print one JSON object')
    .action((model: string | undefined, opts: InspectOptions & { model?: string }) =>
      setAction(() => inspectCommand(modelArgument(model, opts.model, 'inspect'), opts, io)),
    );

  program
    .command('doctor')
    .description('list the backends, whether each can run here, and why not')
    .option('--json', 'print one JSON object')
    .action((opts: { json?: boolean }) => setAction(() => doctorCommand(opts, io)));

  const evalCmd = program.command('eval').description('evaluate a model');
  evalCmd
    .command('ppl')
    .description("perplexity over a text file (llama-perplexity's protocol: chunks of ctx tokens, second half of each scored)")
    .option('-m, --model <path>', 'model file or directory (default: the embedded demo model)')
    .requiredOption('--text <file>', 'UTF-8 text file to score')
    .option('-c, --context <n>', 'chunk length in tokens, also the KV-cache length (default 512, capped to the model context)', positiveInt)
    .addOption(hidden('--ctx <n>', positiveInt))
    .option('--tokenizer <path>', 'tokenizer file for formats without one')
    .option('--max-chunks <n>', 'stop after this many chunks', positiveInt)
    .addOption(backendOption())
    .option('--json', 'print exactly {"ppl","nll","tokens_scored","chunks","ctx"}')
    .option('--progress', 'show progress bars even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((opts: EvalPplOptions) => setAction(() => evalPplCommand(deprecated(opts, [{ flag: '--ctx', replacement: '--context' }]), io)));

  evalCmd
    .command('exits')
    .description('SpecEE early exit measured in real decoding (with and without exit, same run): layers executed, agreement, perplexity, speed')
    .option('-m, --model <path>', 'model file or directory (default: the embedded demo model)')
    .requiredOption('--exits <file>', 'exit predictors written by train-exits')
    .requiredOption('--text <file>', 'UTF-8 text file (use text the predictors were not trained on)')
    .option('-n, --max-tokens <n>', 'text tokens evaluated (chunks of 256)', positiveInt, 2048)
    .option('--exit-threshold <x>', 'predictor threshold (repeatable; default: the one in the exits file)', collectUnitInterval)
    .addOption(hidden('--threshold <x>', collectUnitInterval))
    .addOption(new Option('--kv-policy <policy>', 'K/V of skipped layers').choices(['propagate', 'mask', 'both']).default('both'))
    .option('--prompts <n>', 'free-running prompts (the first tokens of each text chunk)', positiveInt, 8)
    .option('--new-tokens <n>', 'greedy tokens generated per prompt', positiveInt, 64)
    .option('--simulate', 'teacher-forced simulation from full-depth traces instead of real decoding (fast; no free-running or speed numbers)')
    .option('--tokenizer <path>', 'tokenizer file for formats without one')
    .addOption(backendOption())
    .option('--json', 'print JSON (layers_fraction, agreement_teacher_forced, agreement_free_running, ppl_full, ppl_exit, speedup, histogram, …)')
    .option('--progress', 'show progress bars even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((opts: EvalExitsCliOptions) => setAction(() => evalExitsCommand(deprecated(opts, [{ flag: '--threshold', replacement: '--exit-threshold' }]), io)));

  program
    .command('train-exits')
    .description('train SpecEE exit predictors (teacher-forced over a text) and write them with their schedule to a side file')
    .option('-m, --model <path>', 'model file or directory (default: the embedded demo model)')
    .requiredOption('--text <file>', 'calibration text (UTF-8)')
    .option('--drafter <ref>', 'ngram | eagle (head inside the model GGUF) | eagle:PATH | model:PATH', 'ngram')
    .option('--layers <n>', "offline predictor layers: 'auto' (cover 90% of exits) or a count", 'auto')
    .option('-n, --max-tokens <n>', 'text tokens collected for training (the rest of the text feeds the n-gram table)', positiveInt, 4096)
    .option('-s, --seed <s>', 'seed for shuffling and initialisation', seed, 0)
    .option('--epochs <n>', 'training epochs per layer (default 30)', positiveInt)
    .option('--exit-threshold <x>', 'predictor threshold stored in the file (default 0.5)', unitInterval)
    .addOption(hidden('--threshold <x>', unitInterval))
    .option('-o, --output <file>', 'output file (default: MODEL.exits.gguf beside the model)')
    .option('--tokenizer <path>', 'tokenizer file for formats without one')
    .addOption(backendOption())
    .option('--json', 'print one JSON object')
    .option('--progress', 'show progress bars even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((opts: TrainExitsCliOptions) => setAction(() => trainExitsCommand(deprecated(opts, [{ flag: '--threshold', replacement: '--exit-threshold' }]), io)));

  program
    .command('quantize')
    .description('quantize a model to mixed-precision 2/3/4-bit column groups (bx) under a global bits-per-weight budget')
    .argument('[input]', 'model file (.gguf, llama2.c .bin) or Hugging Face directory (or -m PATH)')
    .option('-m, --model <path>', 'the model to quantize (same as the INPUT argument)')
    .requiredOption('-o, --output <file>', 'output GGUF file')
    .option('--bits <b>', 'average bits per weight over the quantized matrices, every byte counted', positiveFloat, 2.9)
    .option('--widths <list>', 'allowed column-group widths (comma-separated subset of 2,3,4)', '2,3,4')
    .option('--calib <file>', 'calibration text (enables GPTQ and Hessian-weighted allocation; without it: round-to-nearest, H = I)')
    .option('--calib-tokens <n>', 'calibration tokens (sequences of 256)', positiveInt, 2048)
    .option('--group-size <g>', 'columns per group: 32, 64 or 128', positiveInt, 64)
    .option('--outliers <fraction>', 'fraction of weights kept as 16-bit outliers inside 2-bit groups (round(F·cols) slots per row)', unitInterval, 0)
    .option('--no-gptq', 'round-to-nearest even with calibration')
    .option('--act-order', 'GPTQ in descending Hessian-diagonal order, static groups (the default with calibration)')
    .option('--no-act-order', 'GPTQ in column order')
    .option('--refit <n>', 'rounds of scale refitting under the full Hessian after GPTQ (default 2; 0 = off)', nonNegativeInt)
    .addOption(
      new Option('--sensitivity <kind>', "how matrices' errors are compared by the allocator (default: measured when calibrated on models up to 20M matrix weights, else relative)").choices([
        'measured',
        'relative',
        'absolute',
      ]),
    )
    .option('--finetune <epochs>', 'epochs of end-to-end fine-tuning by distillation after GPTQ: scales, norms and codes (default: 8 when calibrated on models up to 5M matrix weights, else 0)', nonNegativeInt)
    .option('--finetune-tokens <n>', 'calibration tokens the fine-tuning trains on (default 16384)', positiveInt)
    .option('--finetune-lr <lr>', 'fine-tuning Adam learning rate of log-scales and norms (default 2e-3)', positiveFloat)
    .option('--finetune-code-lr <lr>', 'fine-tuning Adam learning rate of the latent codes, in code units (default 5e-3; 0 keeps GPTQ codes)', nonNegativeFloat)
    .option('--no-second-order', 'store every scale as f16 instead of second-order codes')
    .option('--no-clip', 'no clipping search: min-max ranges')
    .addOption(new Option('--embeddings <dtype>', 'token embedding storage (also the LM head when tied)').choices(['f32', 'f16', 'q8_0']).default('q8_0'))
    .addOption(new Option('--lm-head <dtype>', 'storage of an untied LM head').choices(['f32', 'f16', 'q8_0']).default('q8_0'))
    .option('--tokenizer <path>', 'tokenizer file for formats without one (llama2.c tokenizer.bin)')
    .addOption(new Option('--backend <name>', 'compute backend for calibration').choices([...BACKEND_CHOICES]).default('cpu'))
    .option('--json', 'print one JSON object {bits_per_weight, width_fractions, outliers, per_tensor, seconds}')
    .option('--progress', 'show the progress bar even when stderr is not a terminal')
    .option('--no-progress', 'never show progress bars')
    .action((input: string | undefined, opts: QuantizeCliOptions & { model?: string }) =>
      setAction(() => quantizeCommand(modelArgument(input, opts.model, 'quantize'), opts, io)),
    );

  return program;
}

function defaultIO(): CliIO {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env };
}

/**
 * Runs the CLI on `argv` (the arguments after `bitexit`) and resolves to the
 * exit code; never throws. User mistakes print one `bitexit: …` line; bugs
 * print their stack and give 70.
 */
export async function main(argv: readonly string[], io: CliIO = defaultIO()): Promise<number> {
  let action: Action | null = null;
  try {
    const program = buildProgram(io, (a) => {
      action = a;
    });
    await program.parseAsync([...argv], { from: 'user' });
    const chosen = action as Action | null;
    if (!chosen) return 0;
    return await chosen();
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_USAGE;
    if (io.signal?.aborted) {
      io.stderr.write('bitexit: interrupted\n');
      return EXIT_INTERRUPTED;
    }
    if (e instanceof UsageError) {
      io.stderr.write(`bitexit: ${oneLine(e.message)}\n`);
      return EXIT_USAGE;
    }
    if (isBitexitError(e) || isSystemFileError(e)) {
      io.stderr.write(`bitexit: ${oneLine((e as Error).message)}\n`);
      return EXIT_FAILURE;
    }
    const detail = e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e);
    io.stderr.write(`bitexit: internal error (this is a bug, please report it):\n${detail}\n`);
    return EXIT_INTERNAL;
  }
}
