import type { ByteSource } from '../byte-source.js';
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import type { HostTensor, WeightDType } from '../tensor.js';

/** Largest JSON header accepted (the reference implementation allows 100 MB). */
export const SAFETENSORS_MAX_HEADER = 100_000_000;

/** Bytes per element of every safetensors dtype (sub-byte types as fractions). */
export const SAFETENSORS_DTYPE_SIZES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
  C64: 8,
  F4: 0.5,
  F6_E2M3: 0.75,
  F6_E3M2: 0.75,
};

const READABLE: Readonly<Record<string, WeightDType>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

export interface SafetensorsTensorInfo {
  readonly name: string;
  /** safetensors dtype string ('F32', 'BF16', ...). */
  readonly dtype: string;
  /** Row-major, outermost first. */
  readonly shape: number[];
  /** Absolute byte offset in the file. */
  readonly offset: number;
  readonly byteLength: number;
}

export interface SafetensorsFile {
  readonly file: string;
  /** Tensors in data order. */
  readonly tensors: SafetensorsTensorInfo[];
  /** The `__metadata__` string map (empty when absent). */
  readonly metadata: Record<string, string>;
  /** Absolute offset where the data section starts (8 + header length). */
  readonly dataOffset: number;
  tensor(name: string): SafetensorsTensorInfo | undefined;
  /** Reads an F32/F16/BF16 tensor; UnsupportedTensorTypeError for other dtypes. */
  readTensor(name: string): Promise<HostTensor>;
  /** Raw bytes of any tensor. */
  readTensorBytes(name: string): Promise<Uint8Array>;
}

/**
 * Parses a safetensors file: u64 little-endian header length, JSON header,
 * then the data. Validates every entry: known dtype, non-negative integer
 * shape, byte length = elements x dtype size, offsets inside the data section
 * and not overlapping.
 */
export async function readSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  const fail = (problem: string): never => {
    throw new ModelFormatError(file, problem);
  };
  if (source.size < 8) fail(`not a safetensors file: ${source.size} bytes is too short for the header length`);
  const lenBytes = await source.read(0, 8);
  const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const headerLen = hi * 2 ** 32 + lo;
  if (hi !== 0 || headerLen > SAFETENSORS_MAX_HEADER) fail(`safetensors header length ${hi ? dv.getBigUint64(0, true) : headerLen} exceeds the limit of ${SAFETENSORS_MAX_HEADER} bytes`);
  if (headerLen < 2) fail(`safetensors header length ${headerLen} is too small`);
  if (8 + headerLen > source.size) fail(`truncated: safetensors header of ${headerLen} bytes but the file has ${source.size}`);
  const headerBytes = await source.read(8, headerLen);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('safetensors header is not valid UTF-8');
  }
  if (text[0] !== '{') fail(`safetensors header does not start with '{' (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) return fail('safetensors header is not a JSON object');

  const dataOffset = 8 + headerLen;
  const dataSize = source.size - dataOffset;
  let metadata: Record<string, string> = {};
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value of '${k}' is not a string`);
      }
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    if (!isPlainObject(entry)) return fail(`tensor '${name}' entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (typeof dtype !== 'string') return fail(`tensor '${name}' has no dtype`);
    const size = SAFETENSORS_DTYPE_SIZES[dtype];
    if (size === undefined) return fail(`tensor '${name}' has unknown dtype '${dtype}'`);
    if (!Array.isArray(shape) || shape.length > 16) return fail(`tensor '${name}' shape is not a list of at most 16 dimensions`);
    let numel = 1;
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return fail(`tensor '${name}' has invalid shape ${JSON.stringify(shape)}`);
      numel *= d;
    }
    if (!Number.isSafeInteger(numel)) return fail(`tensor '${name}' shape ${JSON.stringify(shape)} is absurdly large`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      return fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const byteLength = end - begin;
    if (byteLength !== numel * size) {
      fail(`tensor '${name}' (${dtype} ${JSON.stringify(shape)}) needs ${numel * size} bytes but data_offsets span ${byteLength}`);
    }
    if (end > dataSize) {
      fail(`tensor '${name}' (data bytes ${begin}..${end}) extends past the end of the data (${dataSize} bytes); the file is truncated or corrupt`);
    }
    tensors.push({ name, dtype, shape: shape.slice() as number[], offset: dataOffset + begin, byteLength });
  }
  tensors.sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  for (let i = 1; i < tensors.length; i++) {
    const p = tensors[i - 1];
    if (tensors[i].offset < p.offset + p.byteLength) fail(`tensors '${p.name}' and '${tensors[i].name}' overlap`);
  }
  return new SafetensorsFileImpl(source, tensors, metadata, dataOffset);
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

class SafetensorsFileImpl implements SafetensorsFile {
  private readonly byName: Map<string, SafetensorsTensorInfo>;
  constructor(
    private readonly source: ByteSource,
    readonly tensors: SafetensorsTensorInfo[],
    readonly metadata: Record<string, string>,
    readonly dataOffset: number,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }
  get file(): string {
    return this.source.name;
  }
  tensor(name: string): SafetensorsTensorInfo | undefined {
    return this.byName.get(name);
  }
  private get(name: string): SafetensorsTensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new ModelFormatError(this.source.name, `no tensor '${name}' in this file`);
    return t;
  }
  async readTensorBytes(name: string): Promise<Uint8Array> {
    const t = this.get(name);
    return this.source.read(t.offset, t.byteLength);
  }
  async readTensor(name: string): Promise<HostTensor> {
    const t = this.get(name);
    const dtype = READABLE[t.dtype];
    if (!dtype) throw new UnsupportedTensorTypeError(this.source.name, t.name, t.dtype);
    const data = await this.source.read(t.offset, t.byteLength);
    return { name: t.name, dtype, shape: t.shape.slice(), data };
  }
}

/**
 * Parses `model.safetensors.index.json` (given parsed JSON or its text).
 * Shard names must be plain relative paths inside the model directory
 * (no '..', no absolute paths), so a hostile index cannot point elsewhere.
 */
export function parseSafetensorsIndex(
  json: unknown,
  file: string,
): { weightMap: Map<string, string>; metadata: Record<string, unknown>; shards: string[] } {
  const fail = (problem: string): never => {
    throw new ModelFormatError(file, problem);
  };
  let obj = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      fail(`not valid JSON (${(e as Error).message})`);
    }
  }
  if (!isPlainObject(obj)) return fail('safetensors index is not a JSON object');
  const wm = obj.weight_map;
  if (!isPlainObject(wm)) return fail(`safetensors index has no 'weight_map' object`);
  const weightMap = new Map<string, string>();
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string' || shard.length === 0) return fail(`weight_map entry '${tensor}' is not a file name`);
    if (
      shard.startsWith('/') ||
      shard.includes('\\') ||
      shard.includes('\0') ||
      /^[a-zA-Z]:/.test(shard) ||
      shard.split('/').some((p) => p === '..' || p === '')
    ) {
      fail(`weight_map entry '${tensor}' points outside the model directory: '${shard}'`);
    }
    weightMap.set(tensor, shard);
    shards.add(shard);
  }
  const metadata = isPlainObject(obj.metadata) ? { ...obj.metadata } : {};
  return { weightMap, metadata, shards: [...shards] };
}
