import { weightByteLength, type WeightDType } from '@bitexit/format';
import { LOAD_CONVERSION } from './conversion.js';
import type { ModelConfig, ModelFileFormat, ModelSource } from './types.js';

export interface TensorDescription {
  name: string;
  sourceName: string;
  /**
   * Storage type in the file: a bitexit dtype ('f32', 'q8_0', 'bx', ...) or,
   * for types backends do not run, the lower-case ggml type name ('q4_k', 'iq2_xxs', 'type_99').
   */
  dtype: string;
  /** For types backends do not run: what the tensor becomes at load ('q8_0', 'f32'), or null when bitexit cannot decode it. */
  loadsAs?: WeightDType | null;
  shape: number[];
  /** Bytes in the file; null when the type id is unknown to this build (size not computable). */
  bytes: number | null;
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
  /** Tensor count and bytes per storage type (the `dtype` of TensorDescription). */
  dtypes: Record<string, { tensors: number; bytes: number; parameters: number }>;
  /** What loading converts (LOAD_CONVERSION), null when every tensor runs as stored. Loading is refused when some type cannot be decoded. */
  conversion: { from: string[]; to: WeightDType; tensors: number; loadedBytes: number; undecodable: string[] } | null;
  tokenizer: TokenizerDescription | null;
  metadata: Record<string, unknown>;
}

/** Summarises an opened model without reading any tensor data. */
export function describeModel(source: ModelSource): ModelDescription {
  const tensors: TensorDescription[] = [];
  const dtypes: ModelDescription['dtypes'] = {};
  let params = 0;
  let bytes = 0;
  let conversion: ModelDescription['conversion'] = null;
  for (const t of source.tensors.values()) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const dtype = t.stored ? t.stored.type.toLowerCase() : t.dtype;
    const desc: TensorDescription = { name: t.name, sourceName: t.sourceName, dtype, shape: [...t.shape], bytes: t.stored?.unknownSize ? null : t.byteLength, parameters: n };
    if (t.stored) {
      desc.loadsAs = t.stored.decodable ? t.dtype : null;
      conversion ??= { from: [], to: LOAD_CONVERSION.matrix, tensors: 0, loadedBytes: 0, undecodable: [] };
      const list = t.stored.decodable ? conversion.from : conversion.undecodable;
      if (!list.includes(t.stored.type)) list.push(t.stored.type);
      if (t.stored.decodable) {
        conversion.tensors++;
        conversion.loadedBytes += weightByteLength(t.dtype, t.shape);
      }
    }
    tensors.push(desc);
    params += n;
    bytes += t.byteLength;
    const d = (dtypes[dtype] ??= { tensors: 0, bytes: 0, parameters: 0 });
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
    conversion,
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
