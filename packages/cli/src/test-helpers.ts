import { readFileSync } from 'node:fs';
import { fixturePath } from '@bitexit/format/node';
import { main } from './cli.js';
import { CapturedStream, type CliIO } from './io.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `bitexit ...args` in-process with captured streams. */
export async function runCli(args: string[], extra: Partial<CliIO> = {}): Promise<CliResult> {
  const stdout = new CapturedStream(false);
  const stderr = new CapturedStream(false);
  const code = await main(args, { stdout, stderr, env: {}, ...extra });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

export const GGUF = fixturePath('stories260K/stories260K.gguf');
export const LLAMA2C_BIN = fixturePath('stories260K/stories260K.bin');
export const TOK512 = fixturePath('stories260K/tok512.bin');
export const DEV_TEXT = fixturePath('text/tinystories-dev.txt');
const goldenPath = fixturePath('golden/stories260K-greedy-0.json');

export interface Golden {
  prompt: string;
  prompt_ids: number[];
  generated_ids: number[];
  text_llama2c: string;
}

export const GOLDEN0: Golden | null = goldenPath ? (JSON.parse(readFileSync(goldenPath, 'utf8')) as Golden) : null;
