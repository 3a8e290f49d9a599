/** Test-only helpers (not exported from the package). */
import { encodeF16, encodeF32 } from '@bitexit/format';

/** Builds a safetensors file in memory: u64 header length, JSON header, data. */
export function buildSafetensors(tensors: { name: string; dtype: 'F32' | 'F16'; shape: number[]; data: Float32Array }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const t of tensors) {
    const bytes = t.dtype === 'F32' ? encodeF32(t.data) : encodeF16(t.data);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes.length] };
    blobs.push(bytes);
    off += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const b of blobs) {
    out.set(b, p);
    p += b.length;
  }
  return out;
}

export function randomArray(n: number, rng: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (2 * rng() - 1) * scale);
}
