import type { ByteSource } from '../byte-source.js';
import { ModelFormatError, UnsupportedTensorTypeError } from '../errors.js';
import { dequantizeGgml, ggmlDecodable, ggmlTypeAdvice } from './dequantize.js';
import { decodeToF32 } from '../numeric.js';
import { RangeReader } from '../internal/range-reader.js';
import type { HostTensor, WeightDType } from '../tensor.js';
import { bxShape, parseBx } from '../bx/codec.js';
import { BX_HEADER } from '../bx/layout.js';
import { BX_HEADER_BYTES, BX_VERSION } from '../bx/types.js';
import {
  BX_FORMAT_VERSION_KEY,
  BX_TENSORS_KEY,
  GGML_TYPE_I8,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_VALUE_SIZES,
  GGUF_VALUE_TYPES,
  ggmlByteLength,
  ggmlTypeInfo,
  ggmlTypeName,
  ggufPlainValue,
  type GgufArrayValue,
  type GgufMetadataValue,
  type GgufPlainValue,
  type GgufValueType,
} from './types.js';

/** Arrays may nest at most this deep (an array of arrays is depth 2). */
export const GGUF_MAX_ARRAY_DEPTH = 8;

/** One tensor described by a GGUF header. */
export interface GgufTensorInfo {
  readonly name: string;
  /** ggml_type id. */
  readonly ggmlType: number;
  /** ggml type name ('F32', 'Q4_K', ...; 'TYPE_<id>' for an id this build does not know). */
  readonly typeName: string;
  /** ggml order: innermost (contiguous) dimension first. */
  readonly dims: number[];
  /**
   * Row-major, outermost first (dims reversed): [rows, cols] for a matrix.
   * For a bx blob (dtype 'bx'), the logical [rows, cols] from the blob header.
   */
  readonly shape: number[];
  /** Absolute byte offset in the file. */
  readonly offset: number;
  /** Offset as stored: relative to the start of the data section. */
  readonly relativeOffset: number;
  /**
   * Stored bytes; null when the type id is unknown to this build (its block
   * size, hence its size, cannot be computed: the tensor is listed but not read).
   */
  readonly byteLength: number | null;
  /** Elements (for a bx blob: rows * cols of the logical matrix). */
  readonly nElements: number;
  /** bitexit storage type when `readTensor` supports this tensor, else null. */
  readonly dtype: WeightDType | null;
  /** Whether `readTensorF32` decodes this tensor (runnable types, bx, and the llama.cpp block types with a decoder). */
  readonly decodable: boolean;
}

/** A parsed GGUF header; tensor bytes are read on demand. */
export interface GgufFile {
  /** Name of the source (usually its path), used in error messages. */
  readonly file: string;
  readonly version: 2 | 3;
  readonly alignment: number;
  /** Typed metadata in file order. */
  readonly metadata: Map<string, GgufMetadataValue>;
  readonly tensors: GgufTensorInfo[];
  /** Absolute offset of the (aligned) tensor data section. */
  readonly dataOffset: number;
  /** String value, undefined when absent; ModelFormatError when of another type. */
  getString(key: string): string | undefined;
  /** Numeric value (any integer or float type), undefined when absent; ModelFormatError for other types or integers beyond 2^53. */
  getNumber(key: string): number | undefined;
  getBool(key: string): boolean | undefined;
  /** Array as plain JS values (number[] for numeric arrays, string[], boolean[], nested arrays). */
  getArray(key: string): GgufPlainValue[] | undefined;
  /** Like getArray but checks every item is a string. */
  getStringArray(key: string): string[] | undefined;
  /** Like getArray but checks every item is a (safe) number. */
  getNumberArray(key: string): number[] | undefined;
  tensor(name: string): GgufTensorInfo | undefined;
  /**
   * Reads a tensor as a HostTensor (F32, F16, BF16, Q8_0, and bx blobs listed
   * in `bitexit.bx.tensors`, validated with parseBx; UnsupportedTensorTypeError otherwise).
   */
  readTensor(info: GgufTensorInfo | string): Promise<HostTensor>;
  /**
   * Decodes a tensor to f32 (fresh array, row-major as `shape`): F32, F16,
   * BF16, Q8_0, bx, and the llama.cpp block types with a decoder (Q4_0 ...
   * Q6_K, see GGML_DECODABLE_TYPE_NAMES), bit for bit as ggml's
   * dequantize_row_*. UnsupportedTensorTypeError for other types.
   */
  readTensorF32(info: GgufTensorInfo | string): Promise<Float32Array>;
  /** Raw stored bytes of any tensor type whose size is known (UnsupportedTensorTypeError for unknown type ids). */
  readTensorBytes(info: GgufTensorInfo | string): Promise<Uint8Array>;
}

interface ReadOptions {
  /** Chunk size of header reads (default 1 MiB); tests use small chunks. */
  chunkSize?: number;
}

/**
 * Parses the header of a GGUF v2/v3 file: metadata and tensor infos. Reads
 * the header in ranges and never touches tensor data. Every count and length
 * is checked against the bytes left, so hostile files fail with
 * ModelFormatError naming the file, without large allocations.
 */
export async function readGguf(source: ByteSource, options: ReadOptions = {}): Promise<GgufFile> {
  const r: RangeReader = new RangeReader(source, 0, source.size, options.chunkSize);
  const magic = await r.u32('magic');
  if (magic !== GGUF_MAGIC) {
    r.fail(`not a GGUF file (magic ${hex(magic)}, expected 'GGUF')`);
  }
  const version = await r.u32('version');
  if (version !== 2 && version !== 3) {
    if (version === 1) r.fail('unsupported GGUF version 1 (only 2 and 3 are read; re-convert the model)');
    if ((version & 0xffff) === 0 && version >>> 16 !== 0) r.fail(`unsupported GGUF version ${version} (looks like a big-endian GGUF; only little-endian files are read)`);
    r.fail(`unsupported GGUF version ${version}`);
  }
  const nTensors = await r.size('tensor count');
  const nKv = await r.size('metadata count');
  // Each KV needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info at least 8 + 4 + 4 + 8.
  if (nKv > r.remaining / 13) r.fail(`metadata count ${nKv} is impossible for the ${r.remaining} bytes left`);
  if (nTensors > r.remaining / 24) r.fail(`tensor count ${nTensors} is impossible for the ${r.remaining} bytes left`);

  const metadata = new Map<string, GgufMetadataValue>();
  for (let i = 0; i < nKv; i++) {
    const key = await readString(r, `key of metadata entry ${i}`);
    if (metadata.has(key)) r.fail(`duplicate metadata key '${key}'`);
    const typeId = await r.u32(`type of metadata '${key}'`);
    const type = valueType(r, typeId, `metadata '${key}'`);
    metadata.set(key, await readValue(r, type, key, 1));
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = metadata.get('general.alignment');
  if (a !== undefined) {
    if (a.type === 'array' || a.type === 'string' || a.type === 'bool' || a.type === 'float32' || a.type === 'float64') {
      r.fail(`general.alignment must be an integer, got ${a.type}`);
    }
    const v = a.value as number | bigint;
    if (typeof v !== 'number' || v <= 0 || v > 2 ** 30 || (v & (v - 1)) !== 0) {
      r.fail(`general.alignment ${v} is not a power of two`);
    }
    alignment = v;
  }

  interface RawInfo {
    name: string;
    dims: number[];
    ggmlType: number;
    relativeOffset: number;
  }
  const raw: RawInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await readString(r, `name of tensor ${i}`);
    if (names.has(name)) r.fail(`duplicate tensor name '${name}'`);
    names.add(name);
    const nDims = await r.u32(`dimension count of tensor '${name}'`);
    if (nDims > GGUF_MAX_DIMS) r.fail(`tensor '${name}' has ${nDims} dimensions (at most ${GGUF_MAX_DIMS})`);
    await r.need(nDims * 8 + 12, `tensor info of '${name}'`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(r.sizeNow(`dimension ${d} of tensor '${name}'`));
    const ggmlType = r.u32Now();
    const relativeOffset = r.sizeNow(`data offset of tensor '${name}'`);
    raw.push({ name, dims, ggmlType, relativeOffset });
  }

  const headerEnd = r.pos;
  const dataOffset = alignUp(headerEnd, alignment);
  const file = source.name;
  const tensors: GgufTensorInfo[] = raw.map((t) => {
    let nElements = 1;
    for (const d of t.dims) nElements *= d;
    if (!Number.isSafeInteger(nElements)) throw new ModelFormatError(file, `tensor '${t.name}' has absurd dimensions [${t.dims.join(', ')}]`);
    if (t.relativeOffset % alignment !== 0) {
      throw new ModelFormatError(file, `tensor '${t.name}' data offset ${t.relativeOffset} is not aligned to ${alignment}`);
    }
    const info = ggmlTypeInfo(t.ggmlType);
    if (!info) {
      // A type id newer than this build: list the tensor (its size cannot be
      // computed without the block size) instead of refusing the whole file.
      const offset = dataOffset + t.relativeOffset;
      if (!Number.isSafeInteger(offset) || offset > source.size) {
        throw new ModelFormatError(file, `tensor '${t.name}' data offset ${offset} is past the end of the file (${source.size} bytes)`);
      }
      return {
        name: t.name,
        ggmlType: t.ggmlType,
        typeName: ggmlTypeName(t.ggmlType),
        dims: t.dims,
        shape: t.dims.slice().reverse(),
        offset,
        relativeOffset: t.relativeOffset,
        byteLength: null,
        nElements,
        dtype: null,
        decodable: false,
      };
    }
    const byteLength = ggmlByteLength(info, t.dims);
    if (byteLength === null) {
      throw new ModelFormatError(
        file,
        `tensor '${t.name}' of type ${info.name} has dimensions [${t.dims.join(', ')}] whose first is not a multiple of the block size ${info.blockSize}`,
      );
    }
    const offset = dataOffset + t.relativeOffset;
    if (!Number.isSafeInteger(offset) || offset + byteLength > source.size) {
      throw new ModelFormatError(
        file,
        `tensor '${t.name}' (bytes ${offset}..${offset + byteLength}) extends past the end of the file (${source.size} bytes); the file is truncated or corrupt`,
      );
    }
    return {
      name: t.name,
      ggmlType: t.ggmlType,
      typeName: info.name,
      dims: t.dims,
      shape: t.dims.slice().reverse(),
      offset,
      relativeOffset: t.relativeOffset,
      byteLength,
      nElements,
      dtype: info.dtype,
      decodable: ggmlDecodable(info),
    };
  });
  // Tensors must not overlap each other (tensors of unknown size cannot be checked).
  const sorted = tensors
    .filter((t): t is GgufTensorInfo & { byteLength: number } => t.byteLength !== null && t.byteLength > 0)
    .sort((x, y) => x.offset - y.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.byteLength) {
      throw new ModelFormatError(file, `tensors '${prev.name}' and '${sorted[i].name}' overlap`);
    }
  }

  await markBxTensors(source, metadata, tensors);
  return new GgufFileImpl(source, version as 2 | 3, alignment, metadata, tensors, dataOffset);
}

/**
 * Tensors listed in `bitexit.bx.tensors` are bx blobs (SPEC.md §7): 1-D I8
 * tensors whose first 28 bytes are a bx header. Their info gets dtype 'bx'
 * and the logical shape [rows, cols]; the full blob is validated by
 * readTensor (parseBx).
 */
async function markBxTensors(source: ByteSource, metadata: Map<string, GgufMetadataValue>, tensors: GgufTensorInfo[]): Promise<void> {
  const v = metadata.get(BX_TENSORS_KEY);
  if (v === undefined) return;
  const file = source.name;
  if (v.type !== 'array' || v.itemType !== 'string') throw new ModelFormatError(file, `metadata '${BX_TENSORS_KEY}' must be an array of strings`);
  const version = metadata.get(BX_FORMAT_VERSION_KEY);
  if (version !== undefined && (version.type === 'array' || version.type === 'string' || version.type === 'bool' || Number(version.value) !== BX_VERSION)) {
    throw new ModelFormatError(file, `unsupported bitexit format version ${String(version.value)} (this build reads ${BX_VERSION})`);
  }
  const index = new Map(tensors.map((t, i) => [t.name, i]));
  const seen = new Set<string>();
  for (const name of v.value) {
    if (seen.has(name)) throw new ModelFormatError(file, `'${BX_TENSORS_KEY}' lists tensor '${name}' twice`);
    seen.add(name);
    const i = index.get(name);
    if (i === undefined) throw new ModelFormatError(file, `'${BX_TENSORS_KEY}' lists tensor '${name}', which is not in the file`);
    const t = tensors[i];
    if (t.ggmlType !== GGML_TYPE_I8 || t.dims.length !== 1) {
      throw new ModelFormatError(file, `bx tensor '${name}' must be a 1-D I8 tensor, got ${t.typeName} [${t.dims.join(', ')}]`);
    }
    if (t.byteLength === null || t.byteLength < BX_HEADER_BYTES) throw new ModelFormatError(file, `bx tensor '${name}' has ${t.byteLength} bytes, less than a bx header`);
    const head = await source.read(t.offset, BX_HEADER_BYTES);
    if (head.byteLength !== BX_HEADER_BYTES) throw new ModelFormatError(file, `short read of bx tensor '${name}'`);
    const [rows, cols] = bxShape(head, `${file}: tensor '${name}'`);
    const stated = new DataView(head.buffer, head.byteOffset, head.byteLength).getUint32(BX_HEADER.byteLength, true);
    if (stated !== t.byteLength) {
      throw new ModelFormatError(file, `bx tensor '${name}' header says ${stated} bytes, the tensor has ${t.byteLength}`);
    }
    tensors[i] = { ...t, dtype: 'bx', shape: [rows, cols], nElements: rows * cols, decodable: true };
  }
}

function hex(n: number): string {
  return '0x' + n.toString(16).padStart(8, '0');
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function valueType(r: RangeReader, id: number, what: string): GgufValueType {
  const t = GGUF_VALUE_TYPES[id];
  if (t === undefined) r.fail(`${what} has unknown value type ${id}`);
  return t;
}

async function readString(r: RangeReader, what: string): Promise<string> {
  await r.need(8, what);
  const at = r.pos;
  const len = r.u64Now();
  if (typeof len === 'bigint' || len > r.remaining) {
    r.fail(`${what} at offset ${at} has length ${len} but only ${r.remaining} bytes remain`);
  }
  return r.text(len, what);
}

async function readValue(r: RangeReader, type: GgufValueType, key: string, depth: number): Promise<GgufMetadataValue> {
  const what = `value of metadata '${key}'`;
  switch (type) {
    case 'string':
      return { type, value: await readString(r, what) };
    case 'array':
      return readArray(r, key, depth);
    default: {
      await r.need(GGUF_VALUE_SIZES[type]!, what);
      return readScalarNow(r, type, what);
    }
  }
}

function readScalarNow(r: RangeReader, type: GgufValueType, what: string): GgufMetadataValue {
  switch (type) {
    case 'uint8':
      return { type, value: r.u8Now() };
    case 'int8':
      return { type, value: r.i8Now() };
    case 'uint16':
      return { type, value: r.u16Now() };
    case 'int16':
      return { type, value: r.i16Now() };
    case 'uint32':
      return { type, value: r.u32Now() };
    case 'int32':
      return { type, value: r.i32Now() };
    case 'float32':
      return { type, value: r.f32Now() };
    case 'float64':
      return { type, value: r.f64Now() };
    case 'uint64':
      return { type, value: r.u64Now() };
    case 'int64':
      return { type, value: r.i64Now() };
    case 'bool': {
      const b = r.u8Now();
      if (b > 1) r.fail(`${what} is a bool with invalid byte ${b}`);
      return { type, value: b === 1 };
    }
    default:
      return r.fail(`${what}: internal error, ${type} is not a scalar`);
  }
}

async function readArray(r: RangeReader, key: string, depth: number): Promise<GgufArrayValue> {
  const what = `array '${key}'`;
  if (depth > GGUF_MAX_ARRAY_DEPTH) r.fail(`${what} nests arrays deeper than ${GGUF_MAX_ARRAY_DEPTH} levels`);
  await r.need(12, what);
  const itemType = valueType(r, r.u32Now(), `items of ${what}`);
  const at = r.pos;
  const count = r.u64Now();
  // Minimum bytes per item: fixed size, 8 for a string's length, 12 for a nested array's header.
  const minItem = itemType === 'string' ? 8 : itemType === 'array' ? 12 : GGUF_VALUE_SIZES[itemType]!;
  if (typeof count === 'bigint' || count > r.remaining / minItem) {
    r.fail(`${what} at offset ${at} claims ${count} items of ${itemType} but only ${r.remaining} bytes remain`);
  }
  switch (itemType) {
    case 'string': {
      const value: string[] = new Array(count);
      for (let i = 0; i < count; i++) {
        if (!r.has(8)) await r.need(8, what);
        const lenAt = r.pos;
        const len = r.u64Now();
        if (typeof len === 'bigint' || len > r.remaining) {
          r.fail(`string ${i} of ${what} at offset ${lenAt} has length ${len} but only ${r.remaining} bytes remain`);
        }
        if (!r.has(len)) await r.need(len, what);
        value[i] = r.textNow(len);
      }
      return { type: 'array', itemType, value };
    }
    case 'array': {
      const value: GgufArrayValue[] = [];
      for (let i = 0; i < count; i++) value.push(await readArray(r, `${key}[${i}]`, depth + 1));
      return { type: 'array', itemType, value };
    }
    case 'bool': {
      await r.need(count, what);
      const value: boolean[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const b = r.u8Now();
        if (b > 1) r.fail(`item ${i} of ${what} is a bool with invalid byte ${b}`);
        value[i] = b === 1;
      }
      return { type: 'array', itemType, value };
    }
    case 'uint64':
    case 'int64': {
      await r.need(count * 8, what);
      const value: Array<number | bigint> = new Array(count);
      for (let i = 0; i < count; i++) value[i] = itemType === 'uint64' ? r.u64Now() : r.i64Now();
      return { type: 'array', itemType, value };
    }
    default: {
      const size = GGUF_VALUE_SIZES[itemType]!;
      await r.need(count * size, what);
      const value: number[] = new Array(count);
      for (let i = 0; i < count; i++) value[i] = (readScalarNow(r, itemType, what) as { value: number }).value;
      return { type: 'array', itemType: itemType as 'uint8', value };
    }
  }
}

class GgufFileImpl implements GgufFile {
  private readonly byName: Map<string, GgufTensorInfo>;
  constructor(
    private readonly source: ByteSource,
    readonly version: 2 | 3,
    readonly alignment: number,
    readonly metadata: Map<string, GgufMetadataValue>,
    readonly tensors: GgufTensorInfo[],
    readonly dataOffset: number,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
  }

  get file(): string {
    return this.source.name;
  }

  private fail(problem: string): never {
    throw new ModelFormatError(this.source.name, problem);
  }

  getString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'string') this.fail(`metadata '${key}' is ${v.type}, expected string`);
    return v.value;
  }

  getNumber(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type === 'string' || v.type === 'bool' || v.type === 'array') this.fail(`metadata '${key}' is ${v.type}, expected a number`);
    if (typeof v.value === 'bigint') this.fail(`metadata '${key}' value ${v.value} is too large`);
    return v.value;
  }

  getBool(key: string): boolean | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'bool') this.fail(`metadata '${key}' is ${v.type}, expected bool`);
    return v.value;
  }

  getArray(key: string): GgufPlainValue[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'array') this.fail(`metadata '${key}' is ${v.type}, expected array`);
    return ggufPlainValue(v) as GgufPlainValue[];
  }

  getStringArray(key: string): string[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'array' || v.itemType !== 'string') {
      this.fail(`metadata '${key}' is ${v.type === 'array' ? `array of ${v.itemType}` : v.type}, expected array of string`);
    }
    return v.value.slice();
  }

  getNumberArray(key: string): number[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== 'array' || v.itemType === 'string' || v.itemType === 'bool' || v.itemType === 'array') {
      this.fail(`metadata '${key}' is ${v.type === 'array' ? `array of ${v.itemType}` : v.type}, expected array of numbers`);
    }
    const out = v.value.slice();
    for (const x of out) if (typeof x === 'bigint') this.fail(`metadata '${key}' holds ${x}, too large`);
    return out as number[];
  }

  tensor(name: string): GgufTensorInfo | undefined {
    return this.byName.get(name);
  }

  private resolve(info: GgufTensorInfo | string): GgufTensorInfo {
    const t = typeof info === 'string' ? this.byName.get(info) : info;
    if (!t || this.byName.get(t.name) !== t) this.fail(`no tensor '${typeof info === 'string' ? info : info.name}' in this file`);
    return t;
  }

  async readTensorBytes(info: GgufTensorInfo | string): Promise<Uint8Array> {
    const t = this.resolve(info);
    if (t.byteLength === null) throw new UnsupportedTensorTypeError(this.source.name, t.name, t.typeName, ggmlTypeAdvice(t.typeName));
    return this.source.read(t.offset, t.byteLength);
  }

  async readTensorF32(info: GgufTensorInfo | string): Promise<Float32Array> {
    const t = this.resolve(info);
    if (t.dtype) return decodeToF32(await this.readTensor(t));
    if (!t.decodable) throw new UnsupportedTensorTypeError(this.source.name, t.name, t.typeName, ggmlTypeAdvice(t.typeName));
    return dequantizeGgml(t.ggmlType, await this.readTensorBytes(t), t.nElements, this.source.name, t.name);
  }

  async readTensor(info: GgufTensorInfo | string): Promise<HostTensor> {
    const t = this.resolve(info);
    if (!t.dtype || t.byteLength === null) throw new UnsupportedTensorTypeError(this.source.name, t.name, t.typeName, ggmlTypeAdvice(t.typeName));
    const data = await this.source.read(t.offset, t.byteLength);
    if (t.dtype === 'bx') parseBx(data, `${this.source.name}: tensor '${t.name}'`);
    return { name: t.name, dtype: t.dtype, shape: t.shape.slice(), data };
  }
}
