/** Bundles src/fuzz/{cli,worker}.ts (from TypeScript sources) into `outdir`; returns that folder. */
export function bundleFuzzer(outdir?: string): Promise<string>;
