import { MemoryByteSink, type ByteSink } from '../byte-sink.js';
import { ModelFormatError } from '../errors.js';
import type { WeightDType } from '../tensor.js';
import type { GgufFile } from './reader.js';
import { bxShape } from '../bx/codec.js';
import { BX_VERSION } from '../bx/types.js';
import {
  BX_FORMAT_VERSION_KEY,
  BX_TENSORS_KEY,
  GGML_TYPE_I8,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GGUF_MAX_DIMS,
  GGUF_VALUE_TYPE_IDS,
  ggmlByteLength,
  ggmlTypeForDType,
  ggmlTypeInfo,
  type GgufArrayValue,
  type GgufMetadataValue,
  type GgufValueType,
} from './types.js';

/** One tensor to write. `data` is pulled only when the writer reaches it. */
export interface GgufTensorSpec {
  name: string;
  dtype: WeightDType;
  /** Row-major, outermost first (written to GGUF reversed). */
  shape: number[];
  data: Uint8Array | (() => Promise<Uint8Array>);
  /**
   * Writes this ggml type id instead of the one for `dtype` (to copy tensors
   * of any type, e.g. k-quants, byte for byte).
   */
  ggmlType?: number;
  /**
   * Byte length of the data: required for dtype 'bx' when `data` is a
   * function (a bx blob's size is not a function of its shape).
   */
  byteLength?: number;
}

export interface GgufWriteSpec {
  /** 3 by default. */
  version?: 2 | 3;
  /** Data alignment; defaults to `general.alignment` in metadata, else 32. */
  alignment?: number;
  metadata: Array<[string, GgufMetadataValue]>;
  tensors: GgufTensorSpec[];
  /** Used in error messages (e.g. the output path). */
  name?: string;
}

const FLUSH_AT = 1 << 20;
const utf8 = new TextEncoder();

/** Growable little-endian byte buffer that flushes to a sink in ~1 MiB pieces. */
class Out {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  private len = 0;
  written = 0;
  constructor(private readonly sink: ByteSink) {}

  private grow(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      next.set(this.buf.subarray(0, this.len));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const o = this.len;
    this.len += n;
    this.written += n;
    return o;
  }
  u8(v: number): void {
    const o = this.grow(1);
    this.view.setUint8(o, v);
  }
  i8(v: number): void {
    const o = this.grow(1);
    this.view.setInt8(o, v);
  }
  u16(v: number): void {
    const o = this.grow(2);
    this.view.setUint16(o, v, true);
  }
  i16(v: number): void {
    const o = this.grow(2);
    this.view.setInt16(o, v, true);
  }
  u32(v: number): void {
    const o = this.grow(4);
    this.view.setUint32(o, v, true);
  }
  i32(v: number): void {
    const o = this.grow(4);
    this.view.setInt32(o, v, true);
  }
  f32(v: number): void {
    const o = this.grow(4);
    this.view.setFloat32(o, v, true);
  }
  f64(v: number): void {
    const o = this.grow(8);
    this.view.setFloat64(o, v, true);
  }
  u64(v: number | bigint): void {
    const o = this.grow(8);
    this.view.setBigUint64(o, BigInt(v), true);
  }
  i64(v: number | bigint): void {
    const o = this.grow(8);
    this.view.setBigInt64(o, BigInt(v), true);
  }
  bytes(b: Uint8Array): void {
    const o = this.grow(b.byteLength);
    this.buf.set(b, o);
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  zeros(n: number): void {
    const o = this.grow(n);
    this.buf.fill(0, o, this.len);
  }
  async maybeFlush(): Promise<void> {
    if (this.len >= FLUSH_AT) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.len === 0) return;
    await this.sink.write(this.buf.subarray(0, this.len));
    // Fresh buffer: a sink may keep a reference to what it was given.
    this.buf = new Uint8Array(this.buf.length);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }
  /** Writes large bytes straight to the sink (after what is buffered). */
  async direct(b: Uint8Array): Promise<void> {
    await this.flush();
    await this.sink.write(b);
    this.written += b.byteLength;
  }
}

interface Planned {
  spec: GgufTensorSpec;
  ggmlType: number;
  dims: number[];
  byteLength: number;
  relativeOffset: number;
}

/**
 * Streams a GGUF file to `sink`: header, metadata, tensor infos, padding,
 * then each tensor's data (pulled one at a time, each padded to the
 * alignment, as llama.cpp writes). Closes the sink at the end.
 */
export async function writeGguf(sink: ByteSink, spec: GgufWriteSpec): Promise<void> {
  const name = spec.name ?? 'GGUF output';
  const fail = (problem: string): never => {
    throw new ModelFormatError(name, problem);
  };
  const version = spec.version ?? 3;
  if (version !== 2 && version !== 3) fail(`cannot write GGUF version ${String(version)}`);

  const metadata = spec.metadata.slice();
  const keys = new Set<string>();
  for (const [k] of metadata) {
    if (typeof k !== 'string') fail(`metadata key ${String(k)} is not a string`);
    if (keys.has(k)) fail(`duplicate metadata key '${k}'`);
    keys.add(k);
  }
  const metaAlign = metadata.find(([k]) => k === 'general.alignment')?.[1];
  let alignment = spec.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (metaAlign) {
    const intTypes = ['uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'uint64', 'int64'];
    if (!intTypes.includes(metaAlign.type)) fail(`general.alignment must be an integer (uint32), got ${metaAlign.type}`);
    const v = Number(metaAlign.value);
    if (spec.alignment !== undefined && spec.alignment !== v) fail(`alignment ${spec.alignment} contradicts general.alignment ${v}`);
    alignment = v;
  }
  if (!Number.isSafeInteger(alignment) || alignment <= 0 || alignment > 2 ** 30 || (alignment & (alignment - 1)) !== 0) {
    fail(`alignment ${alignment} is not a power of two`);
  }
  if (!metaAlign && alignment !== GGUF_DEFAULT_ALIGNMENT) metadata.push(['general.alignment', { type: 'uint32', value: alignment }]);

  // bx blobs are listed in bitexit.bx.tensors (added when absent, checked when present).
  const bxNames = spec.tensors.filter((t) => t.dtype === 'bx').map((t) => t.name);
  const listed = metadata.find(([k]) => k === BX_TENSORS_KEY)?.[1];
  if (listed) {
    if (listed.type !== 'array' || listed.itemType !== 'string') fail(`metadata '${BX_TENSORS_KEY}' must be an array of strings`);
    const have = new Set(listed.value as string[]);
    if (have.size !== bxNames.length || bxNames.some((n) => !have.has(n))) {
      fail(`metadata '${BX_TENSORS_KEY}' must list exactly the tensors of dtype 'bx' (${bxNames.join(', ') || 'none'})`);
    }
  } else if (bxNames.length > 0) {
    metadata.push([BX_TENSORS_KEY, { type: 'array', itemType: 'string', value: bxNames }]);
  }
  if (bxNames.length > 0) {
    const version = metadata.find(([k]) => k === BX_FORMAT_VERSION_KEY)?.[1];
    if (!version) metadata.push([BX_FORMAT_VERSION_KEY, { type: 'uint32', value: BX_VERSION }]);
    else if (version.type === 'array' || Number(version.value) !== BX_VERSION) fail(`metadata '${BX_FORMAT_VERSION_KEY}' must be ${BX_VERSION}`);
  }

  // Plan tensor layout up front (infos precede the data).
  const planned: Planned[] = [];
  const names = new Set<string>();
  let rel = 0;
  for (const t of spec.tensors) {
    if (names.has(t.name)) fail(`duplicate tensor name '${t.name}'`);
    names.add(t.name);
    if (t.dtype === 'bx') {
      if (t.ggmlType !== undefined && t.ggmlType !== GGML_TYPE_I8) fail(`bx tensor '${t.name}' must be stored as I8 (ggml type ${GGML_TYPE_I8})`);
      if (t.shape.length !== 2) fail(`bx tensor '${t.name}' must have a 2-D shape [rows, cols], got [${t.shape.join(', ')}]`);
      const byteLength = t.data instanceof Uint8Array ? t.data.byteLength : t.byteLength;
      if (typeof byteLength !== 'number' || !Number.isSafeInteger(byteLength) || byteLength <= 0) {
        return fail(`bx tensor '${t.name}' needs its byteLength when its data is pulled lazily`);
      }
      if (t.byteLength !== undefined && t.byteLength !== byteLength) fail(`bx tensor '${t.name}' byteLength ${t.byteLength} differs from its data (${byteLength})`);
      if (t.data instanceof Uint8Array) checkBxShape(t.name, t.data, t.shape, fail);
      planned.push({ spec: t, ggmlType: GGML_TYPE_I8, dims: [byteLength], byteLength, relativeOffset: rel });
      rel += alignUp(byteLength, alignment);
      continue;
    }
    const ggmlType = t.ggmlType ?? ggmlTypeForDType(t.dtype);
    const info = ggmlTypeInfo(ggmlType);
    if (!info) return fail(`tensor '${t.name}' has unknown ggml type ${ggmlType}`);
    if (t.shape.length > GGUF_MAX_DIMS) fail(`tensor '${t.name}' has ${t.shape.length} dimensions (at most ${GGUF_MAX_DIMS})`);
    for (const d of t.shape) if (!Number.isSafeInteger(d) || d < 0) fail(`tensor '${t.name}' has invalid shape [${t.shape.join(', ')}]`);
    const dims = t.shape.slice().reverse();
    const byteLength = ggmlByteLength(info, dims);
    if (byteLength === null) {
      return fail(`tensor '${t.name}' shape [${t.shape.join(', ')}]: the last dimension must be a multiple of ${info.blockSize} for ${info.name}`);
    }
    planned.push({ spec: t, ggmlType, dims, byteLength, relativeOffset: rel });
    rel += alignUp(byteLength, alignment);
  }

  const out = new Out(sink);
  out.u32(GGUF_MAGIC);
  out.u32(version);
  out.u64(planned.length);
  out.u64(metadata.length);
  for (const [key, value] of metadata) {
    out.string(key);
    writeTypedValue(out, value, key, fail, 1);
    await out.maybeFlush();
  }
  for (const p of planned) {
    out.string(p.spec.name);
    out.u32(p.dims.length);
    for (const d of p.dims) out.u64(d);
    out.u32(p.ggmlType);
    out.u64(p.relativeOffset);
    await out.maybeFlush();
  }
  out.zeros(alignUp(out.written, alignment) - out.written);
  for (const p of planned) {
    const data = typeof p.spec.data === 'function' ? await p.spec.data() : p.spec.data;
    if (!(data instanceof Uint8Array) || data.byteLength !== p.byteLength) {
      fail(`tensor '${p.spec.name}' data has ${data?.byteLength} bytes, expected ${p.byteLength}`);
    }
    if (p.spec.dtype === 'bx' && typeof p.spec.data === 'function') checkBxShape(p.spec.name, data, p.spec.shape, fail);
    if (data.byteLength >= FLUSH_AT) await out.direct(data);
    else out.bytes(data);
    out.zeros(alignUp(p.byteLength, alignment) - p.byteLength);
    await out.maybeFlush();
  }
  await out.flush();
  await sink.close();
}

/** Encodes a GGUF file in memory. */
export async function encodeGguf(spec: GgufWriteSpec): Promise<Uint8Array> {
  const sink = new MemoryByteSink();
  await writeGguf(sink, spec);
  return sink.bytes();
}

/**
 * A write spec that reproduces a parsed GGUF file (metadata in order, every
 * tensor copied byte for byte, read lazily from the source).
 */
export function ggufWriteSpecFrom(gguf: GgufFile): GgufWriteSpec {
  return {
    version: gguf.version,
    alignment: gguf.alignment,
    metadata: [...gguf.metadata],
    tensors: gguf.tensors.map((t) => ({
      name: t.name,
      dtype: t.dtype ?? 'f32',
      shape: t.shape.slice(),
      ggmlType: t.ggmlType,
      byteLength: t.byteLength ?? undefined,
      data: () => gguf.readTensorBytes(t),
    })),
    name: gguf.file,
  };
}

function checkBxShape(name: string, data: Uint8Array, shape: number[], fail: (p: string) => never): void {
  const [rows, cols] = bxShape(data, `tensor '${name}'`);
  if (shape[0] !== rows || shape[1] !== cols) fail(`bx tensor '${name}' has shape [${shape.join(', ')}] but its blob is [${rows}, ${cols}]`);
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

const RANGES: Partial<Record<GgufValueType, [number, number]>> = {
  uint8: [0, 0xff],
  int8: [-0x80, 0x7f],
  uint16: [0, 0xffff],
  int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff],
  int32: [-0x80000000, 0x7fffffff],
};
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function writeScalar(out: Out, type: GgufValueType, v: unknown, what: string, fail: (p: string) => never): void {
  switch (type) {
    case 'uint8':
    case 'int8':
    case 'uint16':
    case 'int16':
    case 'uint32':
    case 'int32': {
      const [lo, hi] = RANGES[type]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) fail(`${what}: ${String(v)} is not a ${type}`);
      const n = v as number;
      if (type === 'uint8') out.u8(n);
      else if (type === 'int8') out.i8(n);
      else if (type === 'uint16') out.u16(n);
      else if (type === 'int16') out.i16(n);
      else if (type === 'uint32') out.u32(n);
      else out.i32(n);
      return;
    }
    case 'float32':
    case 'float64':
      if (typeof v !== 'number') fail(`${what}: ${String(v)} is not a ${type}`);
      if (type === 'float32') out.f32(v as number);
      else out.f64(v as number);
      return;
    case 'uint64':
    case 'int64': {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) fail(`${what}: ${v} is not a safe integer (use a bigint)`);
      if (typeof v !== 'number' && typeof v !== 'bigint') fail(`${what}: ${String(v)} is not a ${type}`);
      const b = BigInt(v as number | bigint);
      if (type === 'uint64' ? b < 0n || b > U64_MAX : b < I64_MIN || b > I64_MAX) fail(`${what}: ${b} is out of range for ${type}`);
      if (type === 'uint64') out.u64(b);
      else out.i64(b);
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') fail(`${what}: ${String(v)} is not a bool`);
      out.u8(v ? 1 : 0);
      return;
    case 'string':
      if (typeof v !== 'string') fail(`${what}: ${String(v)} is not a string`);
      out.string(v as string);
      return;
    default:
      fail(`${what}: unknown value type ${String(type)}`);
  }
}

function writeTypedValue(out: Out, value: GgufMetadataValue, key: string, fail: (p: string) => never, depth: number): void {
  const typeId = GGUF_VALUE_TYPE_IDS[value?.type];
  if (typeId === undefined) fail(`metadata '${key}' has unknown type ${String(value?.type)}`);
  out.u32(typeId);
  if (value.type === 'array') writeArray(out, value, key, fail, depth);
  else writeScalar(out, value.type, value.value, `metadata '${key}'`, fail);
}

function writeArray(out: Out, value: GgufArrayValue, key: string, fail: (p: string) => never, depth: number): void {
  if (depth > 8) fail(`metadata '${key}' nests arrays too deeply`);
  const itemId = GGUF_VALUE_TYPE_IDS[value.itemType];
  if (itemId === undefined) fail(`metadata '${key}' has unknown item type ${String(value.itemType)}`);
  if (!Array.isArray(value.value)) fail(`metadata '${key}' array value is not an array`);
  out.u32(itemId);
  out.u64(value.value.length);
  if (value.itemType === 'array') {
    value.value.forEach((inner, i) => {
      if (inner?.type !== 'array') fail(`metadata '${key}[${i}]' is not an array`);
      writeArray(out, inner, `${key}[${i}]`, fail, depth + 1);
    });
    return;
  }
  const items = value.value as unknown[];
  for (let i = 0; i < items.length; i++) writeScalar(out, value.itemType, items[i], `metadata '${key}[${i}]'`, fail);
}
