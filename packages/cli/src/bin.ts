#!/usr/bin/env node
import { main } from './cli.js';

// `bitexit run | head -1`: a reader that goes away is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

const argv = process.argv.slice(2);
const controller = new AbortController();
// `run` pulls tokens one by one and gives the event loop a turn between them, so
// the first Ctrl-C stops the generation and still prints the text and stats; a
// second one leaves at once (`serve` closes its connections and exits; `chat` with piped stdin too,
// its REPL reads Ctrl-C from the terminal itself). Other commands keep Node's default (exit at once):
// their work does not return to the event loop until it is done.
if (argv[0] === 'run' || argv[0] === 'serve' || argv[0] === 'chat') {
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    controller.abort();
  });
}

// No top-level await: the package is also built as CommonJS.
void (async () => {
  const code = await main(argv, {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: controller.signal,
  });
  // Let piped output drain before exiting (a backend may hold handles open).
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  process.exit(code);
})();
