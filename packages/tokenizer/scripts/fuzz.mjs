// `npm run fuzz`: bundles the fuzzer (src/fuzz/cli.ts and its worker) from the
// TypeScript sources of this package and @bitexit/format with esbuild, so it never
// runs a stale build, then runs it with the given arguments.
import { bundleFuzzer } from './fuzz-bundle.mjs';

const dir = await bundleFuzzer();
await import(new URL(`file://${dir}/cli.js`).href);
