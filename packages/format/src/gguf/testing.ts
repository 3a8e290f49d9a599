/* Fixtures for this package's GGUF tests (not exported from the package). */
import { encodeBf16, encodeF16, encodeF32, encodeQ8_0 } from '../numeric.js';
import { ggufValue, type GgufMetadataValue } from './types.js';
import type { GgufWriteSpec } from './writer.js';

/** Metadata exercising every value type, including nested arrays and 64-bit extremes. */
export function allTypesMetadata(): Array<[string, GgufMetadataValue]> {
  return [
    ['general.architecture', ggufValue.string('llama')],
    ['t.u8', ggufValue.uint8(255)],
    ['t.i8', ggufValue.int8(-128)],
    ['t.u16', ggufValue.uint16(65535)],
    ['t.i16', ggufValue.int16(-32768)],
    ['t.u32', ggufValue.uint32(4294967295)],
    ['t.i32', ggufValue.int32(-2147483648)],
    ['t.f32', ggufValue.float32(Math.fround(0.1))],
    ['t.bool', ggufValue.bool(true)],
    ['t.str', ggufValue.string('héllo ▁wörld 🦙')],
    ['t.u64', ggufValue.uint64(2n ** 64n - 1n)],
    ['t.u64small', ggufValue.uint64(12345)],
    ['t.i64', ggufValue.int64(-(2n ** 63n))],
    ['t.i64small', ggufValue.int64(-5)],
    ['t.f64', ggufValue.float64(Math.PI)],
    ['t.arr.u8', ggufValue.numbers('uint8', [0, 1, 255])],
    ['t.arr.i8', ggufValue.numbers('int8', [-1, 127])],
    ['t.arr.u16', ggufValue.numbers('uint16', [1, 65535])],
    ['t.arr.i16', ggufValue.numbers('int16', [-300])],
    ['t.arr.u32', ggufValue.numbers('uint32', [7])],
    ['t.arr.i32', ggufValue.numbers('int32', [-7, 7])],
    ['t.arr.f32', ggufValue.numbers('float32', [0.5, -0.25])],
    ['t.arr.f64', ggufValue.numbers('float64', [1e300])],
    ['t.arr.bool', ggufValue.bools([true, false, true])],
    ['t.arr.str', ggufValue.strings(['a', '', 'ß'])],
    ['t.arr.u64', { type: 'array', itemType: 'uint64', value: [1, 2n ** 60n] }],
    ['t.arr.i64', { type: 'array', itemType: 'int64', value: [-1, -(2n ** 60n)] }],
    ['t.arr.empty', ggufValue.strings([])],
    [
      't.arr.nested',
      ggufValue.arrays([ggufValue.strings(['x', 'y']), ggufValue.numbers('int32', [1, 2, 3]), ggufValue.arrays([ggufValue.bools([false])])]),
    ],
  ];
}

/** A small synthetic model: every readable tensor type plus one k-quant. */
export function syntheticSpec(): GgufWriteSpec {
  const f = (n: number, k = 1) => new Float32Array(n).map((_, i) => Math.sin(i * k) * 3);
  return {
    metadata: allTypesMetadata(),
    tensors: [
      { name: 'a.f32', dtype: 'f32', shape: [3, 5], data: encodeF32(f(15)) },
      { name: 'b.f16', dtype: 'f16', shape: [7], data: encodeF16(f(7, 2)) },
      { name: 'c.bf16', dtype: 'bf16', shape: [2, 2, 3], data: encodeBf16(f(12, 3)) },
      { name: 'd.q8_0', dtype: 'q8_0', shape: [2, 64], data: encodeQ8_0(f(128, 4), [2, 64]) },
      { name: 'e.q4k', dtype: 'f32', ggmlType: 12, shape: [1, 256], data: new Uint8Array(144).fill(0x11) },
    ],
  };
}

