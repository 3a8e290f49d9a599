import type { ByteSource } from '../byte-source.js';
import { ModelFormatError } from '../errors.js';
import type { HostTensor } from '../tensor.js';

/** Hyperparameters from a llama2.c v0 checkpoint header. */
export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Always positive here (the header's sign only flags the classifier). */
  vocabSize: number;
  seqLen: number;
  /** True when the classifier reuses token_embedding_table (positive vocab size in the header). */
  sharedClassifier: boolean;
}

export type Llama2cTensorName =
  | 'token_embedding_table'
  | 'rms_att_weight'
  | 'wq'
  | 'wk'
  | 'wv'
  | 'wo'
  | 'rms_ffn_weight'
  | 'w1'
  | 'w2'
  | 'w3'
  | 'rms_final_weight'
  | 'freq_cis_real'
  | 'freq_cis_imag'
  | 'wcls';

export interface Llama2cTensorInfo {
  readonly name: Llama2cTensorName;
  /** Full shape; per-layer tensors have nLayers first. */
  readonly shape: number[];
  /** Shape of one layer's slice (equal to `shape` for non-layer tensors). */
  readonly layerShape: number[];
  readonly perLayer: boolean;
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface Llama2cCheckpoint {
  readonly file: string;
  readonly config: Llama2cConfig;
  /** Tensors in file order (wcls only when the classifier is not shared). */
  readonly tensors: Llama2cTensorInfo[];
  tensor(name: string): Llama2cTensorInfo | undefined;
  /** Whole tensor (all layers for per-layer tensors), f32. */
  readTensor(name: Llama2cTensorName | string): Promise<HostTensor>;
  /** One layer's slice of a per-layer tensor, f32, shape without the layer dimension. */
  readLayerTensor(name: Llama2cTensorName | string, layer: number): Promise<HostTensor>;
}

/** Bytes of the v0 header: 7 int32. */
export const LLAMA2C_HEADER_BYTES = 28;
/** Sanity bound on every header value (far above any real llama2.c model). */
const MAX_HEADER_VALUE = 1 << 24;
const LLAMA2C_V1_MAGIC = 0x616b3432; // "ak42"

/**
 * Parses a llama2.c v0 checkpoint (run.c's format): 7 int32 header values,
 * then float32 tensors in llama2.c order. The file size must be exactly what
 * the header implies, so a wrong or truncated file is rejected up front.
 */
export async function readLlama2cCheckpoint(source: ByteSource): Promise<Llama2cCheckpoint> {
  const file = source.name;
  const fail = (problem: string): never => {
    throw new ModelFormatError(file, problem);
  };
  if (source.size < LLAMA2C_HEADER_BYTES) fail(`too short for a llama2.c checkpoint header (${source.size} bytes)`);
  const hb = await source.read(0, LLAMA2C_HEADER_BYTES);
  const dv = new DataView(hb.buffer, hb.byteOffset, LLAMA2C_HEADER_BYTES);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  if (dv.getUint32(0, true) === LLAMA2C_V1_MAGIC) fail('llama2.c version 1/2 export (magic "ak42") is not supported; export with --version 0');
  if (dv.getUint32(0, true) === 0x46554747) fail('this is a GGUF file, not a llama2.c checkpoint');
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h;
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  h.forEach((v, i) => {
    const a = i === 5 ? Math.abs(v) : v;
    if (a <= 0 || a > MAX_HEADER_VALUE) fail(`llama2.c header ${names[i]} = ${v} is out of range (not a llama2.c v0 checkpoint?)`);
  });
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) fail(`llama2.c header: n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`);
  if (dim % nHeads !== 0) fail(`llama2.c header: dim ${dim} is not a multiple of n_heads ${nHeads}`);
  const headSize = dim / nHeads;
  if (headSize % 2 !== 0) fail(`llama2.c header: head size ${headSize} is odd`);
  const sharedClassifier = vocabRaw > 0;
  const vocabSize = Math.abs(vocabRaw);
  const kvDim = (dim * nKvHeads) / nHeads;
  const config: Llama2cConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier };

  const L = nLayers;
  const layout: Array<[Llama2cTensorName, number[], boolean]> = [
    ['token_embedding_table', [vocabSize, dim], false],
    ['rms_att_weight', [dim], true],
    ['wq', [dim, dim], true],
    ['wk', [kvDim, dim], true],
    ['wv', [kvDim, dim], true],
    ['wo', [dim, dim], true],
    ['rms_ffn_weight', [dim], true],
    ['w1', [hiddenDim, dim], true],
    ['w2', [dim, hiddenDim], true],
    ['w3', [hiddenDim, dim], true],
    ['rms_final_weight', [dim], false],
    ['freq_cis_real', [seqLen, headSize / 2], false],
    ['freq_cis_imag', [seqLen, headSize / 2], false],
  ];
  if (!sharedClassifier) layout.push(['wcls', [vocabSize, dim], false]);

  let offset = LLAMA2C_HEADER_BYTES;
  const tensors: Llama2cTensorInfo[] = layout.map(([name, layerShape, perLayer]) => {
    const shape = perLayer ? [L, ...layerShape] : layerShape;
    const byteLength = shape.reduce((a, b) => a * b, 4);
    const info = { name, shape, layerShape, perLayer, offset, byteLength };
    offset += byteLength;
    return info;
  });
  // Values are bounded by 2^24, so sizes stay below 2^75 as doubles: comparisons are still meaningful.
  if (offset !== source.size) {
    fail(
      offset > source.size
        ? `truncated: the llama2.c header (dim ${dim}, hidden ${hiddenDim}, layers ${nLayers}, vocab ${vocabRaw}, seq_len ${seqLen}) implies ${offset} bytes but the file has ${source.size}`
        : `the llama2.c header (dim ${dim}, hidden ${hiddenDim}, layers ${nLayers}, vocab ${vocabRaw}, seq_len ${seqLen}) implies ${offset} bytes but the file has ${source.size} (wrong format or version?)`,
    );
  }
  return new Llama2cCheckpointImpl(source, config, tensors);
}

class Llama2cCheckpointImpl implements Llama2cCheckpoint {
  private readonly byName: Map<string, Llama2cTensorInfo>;
  constructor(
    private readonly source: ByteSource,
    readonly config: Llama2cConfig,
    readonly tensors: Llama2cTensorInfo[],
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }
  get file(): string {
    return this.source.name;
  }
  tensor(name: string): Llama2cTensorInfo | undefined {
    return this.byName.get(name);
  }
  private get(name: string): Llama2cTensorInfo {
    const t = this.byName.get(name);
    if (!t) {
      const why = name === 'wcls' ? ' (the classifier is shared with token_embedding_table)' : '';
      throw new ModelFormatError(this.source.name, `no tensor '${name}' in this llama2.c checkpoint${why}`);
    }
    return t;
  }
  async readTensor(name: string): Promise<HostTensor> {
    const t = this.get(name);
    const data = await this.source.read(t.offset, t.byteLength);
    return { name: t.name, dtype: 'f32', shape: t.shape.slice(), data };
  }
  async readLayerTensor(name: string, layer: number): Promise<HostTensor> {
    const t = this.get(name);
    if (!t.perLayer) throw new ModelFormatError(this.source.name, `tensor '${name}' is not a per-layer tensor`);
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.config.nLayers) {
      throw new ModelFormatError(this.source.name, `layer ${layer} out of range 0..${this.config.nLayers - 1}`);
    }
    const sliceBytes = t.byteLength / this.config.nLayers;
    const data = await this.source.read(t.offset + layer * sliceBytes, sliceBytes);
    return { name: `${t.name}[${layer}]`, dtype: 'f32', shape: t.layerShape.slice(), data };
  }
}
