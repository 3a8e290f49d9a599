/** One tensor to write: raw little-endian bytes in the named safetensors dtype (F32, F16, BF16, ...). */
export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/**
 * Encodes a safetensors file in memory: u64 LE header length, JSON header
 * (padded with spaces so the data starts 8-byte aligned), then the tensors
 * back to back in the given order.
 */
export function encodeSafetensors(entries: readonly SafetensorsEntry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [off, off + e.data.byteLength] };
    off += e.data.byteLength;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).byteLength) % 8 !== 0) json += ' ';
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.byteLength), true);
  out.set(hb, 8);
  let p = 8 + hb.byteLength;
  for (const e of entries) {
    out.set(e.data, p);
    p += e.data.byteLength;
  }
  return out;
}
