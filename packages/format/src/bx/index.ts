export * from './types.js';
export { bxLayout, bxByteLength, bxLayoutBitsPerWeight, BX_HEADER, BX_HEADER_FIELD_BYTES, BX_FLAG_SECOND_ORDER, BX_MAX_BYTES, BX_MAX_OUTLIER_COLS } from './layout.js';
export { representableGroupParams, bxDequantValue, secondOrderScale } from './params.js';
export {
  encodeBx,
  parseBx,
  decodeBx,
  dequantizeBx,
  dequantizeBxRows,
  bxBitsPerWeight,
  bxShape,
  bxRowParams,
  bxGroupTables,
  unpackGroupCodes,
  applyOutliers,
  readCode,
  readBits,
  metaBase,
} from './codec.js';
export { bxRng, randomBxMatrix, dequantizeBxMatrix, type RandomBxOptions } from './testing.js';
export { quantizeBxRtn, type BxRtnOptions } from './rtn.js';
