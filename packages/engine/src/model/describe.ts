import type { WeightDType } from '@bitexit/format';
import type { ModelConfig, ModelFileFormat, ModelSource } from './types.js';

export interface TensorDescription {
  name: string;
  sourceName: string;
  dtype: WeightDType;
  shape: number[];
  bytes: number;
  parameters: number;
}

export interface TokenizerDescription {
  kind: string;
  vocabSize: number;
  bosId: number | null;
  eosId: number | null;
  stopIds: number[];
  hasChatTemplate: boolean;
}

/** Everything `bitexit inspect` prints about a model; plain JSON-able data. */
export interface ModelDescription {
  format: ModelFileFormat;
  path: string;
  architecture: string;
  config: ModelConfig;
  tensors: TensorDescription[];
  tensorCount: number;
  /** Bytes of all weights as stored. */
  weightBytes: number;
  parameterCount: number;
  /** 8 * weightBytes / parameterCount. */
  bitsPerWeight: number;
  /** Tensor count and bytes per storage type. */
  dtypes: Partial<Record<WeightDType, { tensors: number; bytes: number; parameters: number }>>;
  tokenizer: TokenizerDescription | null;
  metadata: Record<string, unknown>;
}

/** Summarises an opened model without reading any tensor data. */
export function describeModel(source: ModelSource): ModelDescription {
  const tensors: TensorDescription[] = [];
  const dtypes: ModelDescription['dtypes'] = {};
  let params = 0;
  let bytes = 0;
  for (const t of source.tensors.values()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    tensors.push({ name: t.name, sourceName: t.sourceName, dtype: t.dtype, shape: [...t.shape], bytes: t.byteLength, parameters: n });
    params += n;
    bytes += t.byteLength;
    const d = (dtypes[t.dtype] ??= { tensors: 0, bytes: 0, parameters: 0 });
    d.tensors++;
    d.bytes += t.byteLength;
    d.parameters += n;
  }
  const tok = source.tokenizer;
  return {
    format: source.format,
    path: source.path,
    architecture: source.config.architecture,
    config: { ...source.config, ropeScaling: source.config.ropeScaling ? { ...source.config.ropeScaling } : null },
    tensors,
    tensorCount: tensors.length,
    weightBytes: bytes,
    parameterCount: params,
    bitsPerWeight: params > 0 ? (8 * bytes) / params : 0,
    dtypes,
    tokenizer: tok
      ? {
          kind: tok.kind,
          vocabSize: tok.vocabSize,
          bosId: tok.bosId,
          eosId: tok.eosId,
          stopIds: [...tok.stopIds],
          hasChatTemplate: tok.chatTemplate !== null && tok.chatTemplate !== '',
        }
      : null,
    metadata: source.metadata,
  };
}
