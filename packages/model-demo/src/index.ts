import { fileURLToPath } from 'node:url';

/** File name of the shipped model inside this package (`model/`). */
export const DEMO_MODEL_FILE = 'bitexit-demo.gguf';

/**
 * Absolute path of the demo model GGUF. Works from the TypeScript sources (`src/`) and from the
 * build (`dist/`): both sit one level below the package root, next to `model/`.
 */
export function demoModelPath(): string {
  return fileURLToPath(new URL(`../model/${DEMO_MODEL_FILE}`, import.meta.url));
}

/** What the demo model is; numbers are those of the shipped file (see README.md, the model card). */
export interface DemoModelInfo {
  readonly name: string;
  readonly architecture: 'llama';
  readonly format: 'gguf';
  /** Storage type of the matrices (norms are F32). */
  readonly dtype: 'F16';
  /** Parameters of the target model (tied embeddings counted once). */
  readonly parameters: number;
  /** Parameters of the EAGLE-1 draft head stored in the same file (`eagle.*` tensors). */
  readonly draftParameters: number;
  readonly contextLength: number;
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly feedForwardLength: number;
  readonly headCount: number;
  readonly headCountKv: number;
  readonly vocabSize: number;
  readonly ropeFreqBase: number;
  readonly rmsNormEps: number;
}

export const demoModelInfo: DemoModelInfo = Object.freeze({
  name: 'bitexit-demo',
  architecture: 'llama',
  format: 'gguf',
  dtype: 'F16',
  parameters: 5_182_720,
  draftParameters: 623_104,
  contextLength: 256,
  embeddingLength: 256,
  blockCount: 10,
  feedForwardLength: 384,
  headCount: 4,
  headCountKv: 2,
  vocabSize: 1024,
  ropeFreqBase: 10000,
  rmsNormEps: 1e-5,
});
