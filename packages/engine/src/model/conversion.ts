import { UnsupportedTensorTypeError, encodeF32, ggmlToQ8_0IsExact, ggmlTypeAdvice, weightByteLength, type HostTensor, type WeightDType } from '@bitexit/format';
import type { ModelSource, TensorEntry } from './types.js';

/**
 * The one conversion the engine makes at load: tensors stored in a type that
 * backends do not run but bitexit decodes (GGUF Q4_0 ... Q6_K, IQ4_NL, ...)
 * become Q8_0 matrices and f32 vectors. Q8_0 (8.5 bits per weight, run by
 * every backend) takes half the memory of f16; Q4_0, Q5_0, IQ4_NL and TQ*
 * blocks become Q8_0 exactly, the others are rounded to Q8_0's grid
 * (`ggmlToQ8_0`). Declared here once and reported by `loadModel`
 * (`ModelInfo.conversion`), never silent.
 */
export const LOAD_CONVERSION = { matrix: 'q8_0', vector: 'f32' } as const satisfies Record<string, WeightDType>;

/** The runnable type a decodable foreign tensor of this shape is converted to. */
export function loadConversionDType(shape: readonly number[]): WeightDType {
  // Every decodable block type has rows that are whole blocks of 32 or 256, so Q8_0 always fits a matrix.
  return shape.length >= 2 && shape[shape.length - 1] % 32 === 0 ? LOAD_CONVERSION.matrix : LOAD_CONVERSION.vector;
}


/** What `loadModel` converts: declared in `ModelInfo.conversion` and printed once by the CLI. */
export interface LoadConversion {
  /** Tensors converted. */
  tensors: number;
  /** Their stored types ('Q4_K', 'Q6_K', ...), in first-seen order. */
  from: string[];
  /** What matrices become ('q8_0'; vectors become f32). */
  to: WeightDType;
  /** Stored types whose values were rounded to Q8_0's grid (the others convert exactly). */
  rounded: string[];
  /** Their bytes in the file. */
  fileBytes: number;
  /** Their bytes once converted (what the backend holds). */
  loadedBytes: number;
}

/**
 * The conversion loading this model needs, or null when every tensor runs as
 * stored. Throws UnsupportedTensorTypeError (saying what runs and what to do)
 * before anything is uploaded when a tensor's type cannot be decoded at all.
 */
export function planLoadConversion(source: ModelSource): LoadConversion | null {
  let plan: LoadConversion | null = null;
  for (const t of source.tensors.values()) {
    if (!t.stored) continue;
    if (!t.stored.decodable) throw new UnsupportedTensorTypeError(source.path, t.sourceName, t.stored.type, ggmlTypeAdvice(t.stored.type));
    plan ??= { tensors: 0, from: [], to: LOAD_CONVERSION.matrix, rounded: [], fileBytes: 0, loadedBytes: 0 };
    plan.tensors++;
    if (!plan.from.includes(t.stored.type)) plan.from.push(t.stored.type);
    const exact = t.dtype !== 'q8_0' || ggmlToQ8_0IsExact(t.stored.type);
    if (!exact && !plan.rounded.includes(t.stored.type)) plan.rounded.push(t.stored.type);
    plan.fileBytes += t.byteLength;
    plan.loadedBytes += weightByteLength(t.dtype, t.shape);
  }
  return plan;
}

/**
 * A tensor's values without conversion loss, for code that re-encodes weights
 * (converters, quantizers): `load()` for tensors stored in a runnable type,
 * the exact decoded f32 values for foreign ones.
 */
export async function loadExactTensor(entry: TensorEntry): Promise<HostTensor> {
  if (!entry.stored || !entry.loadF32) return entry.load();
  return { name: entry.name, dtype: 'f32', shape: [...entry.shape], data: encodeF32(await entry.loadF32()) };
}
