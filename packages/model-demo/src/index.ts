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

/** File name of the SpecEE exit predictors trained for the shipped model (`bitexit train-exits`), beside it. */
export const DEMO_EXITS_FILE = 'bitexit-demo.exits.gguf';

/** Absolute path of the exits file; `bitexit run --early-exit` finds it beside the model by this name. */
export function demoExitsPath(): string {
  return fileURLToPath(new URL(`../model/${DEMO_EXITS_FILE}`, import.meta.url));
}

/** What the demo model is; numbers are those of the shipped file (see README.md, the model card). */
export interface DemoModelInfo {
  readonly name: string;
  readonly architecture: 'llama';
  readonly format: 'gguf';
  /** Storage of the decoder matrices: bitexit's mixed 2/3/4-bit format (token embedding = tied LM head q8_0, norms F32, draft head F16). */
  readonly dtype: 'bx';
  /** Bits per weight of the bx matrices, every byte counted (packages/format/SPEC.md). */
  readonly matrixBitsPerWeight: number;
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

/** Measured by the quantizer for the shipped file (`bitexit quantize --bits 2.9`; packages/quantizer). */
const MATRIX_BITS = 2.8987;

export const demoModelInfo: DemoModelInfo = Object.freeze({
  name: 'bitexit-demo',
  architecture: 'llama',
  format: 'gguf',
  dtype: 'bx',
  matrixBitsPerWeight: MATRIX_BITS,
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
