/** Test helpers: a tiny random Llama (2 layers, dim 8, GQA 4/2 heads, vocab 11). */
import type { ModelConfig } from '@bitexit/engine';
import { normal } from '../algorithms/testing.js';
import type { HostModelWeights } from './transformer.js';

export function tinyModel(ropeStyle: 'adjacent' | 'half', seed: number): HostModelWeights {
  const config: ModelConfig = {
    architecture: 'llama',
    dim: 8,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 2,
    ffnDim: 12,
    vocabSize: 11,
    contextLength: 16,
    rmsEps: 1e-5,
    ropeTheta: 10000,
    ropeDim: 2,
    ropeStyle,
    ropeScaling: null,
    qkvBias: false,
    tiedEmbeddings: true,
  };
  let s = seed;
  const t = (n: number, scale = 0.4) => normal(n, s++, scale);
  const ones = (n: number) => Float32Array.from(t(n, 0.1), (v) => 1 + v);
  const embedding = t(11 * 8, 1);
  return {
    config,
    embedding,
    output: embedding,
    outputNorm: ones(8),
    layers: [0, 1].map(() => ({
      attnNorm: ones(8),
      ffnNorm: ones(8),
      wq: t(8 * 8),
      wk: t(4 * 8),
      wv: t(4 * 8),
      wo: t(8 * 8),
      wGate: t(12 * 8),
      wUp: t(12 * 8),
      wDown: t(8 * 12),
    })),
  };
}
