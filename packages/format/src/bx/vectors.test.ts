import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeBx, dequantizeBx, encodeBx, parseBx } from './codec.js';
import { BX_VECTOR_SPECS, f32Hex, matrixFromJson, vectorJson, vectorMatrix, type BxVectorJson } from './vectors.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-vectors', 'bx');

describe('bx test vectors (test-vectors/bx)', () => {
  for (const spec of BX_VECTOR_SPECS) {
    describe(spec.name, () => {
      const bin = new Uint8Array(readFileSync(join(dir, `${spec.name}.bin`)));
      const json = JSON.parse(readFileSync(join(dir, `${spec.name}.json`), 'utf8')) as BxVectorJson;

      it('encoding the JSON matrix gives the .bin byte for byte', () => {
        expect(json.byteLength).toBe(bin.byteLength);
        expect(encodeBx(matrixFromJson(json))).toEqual(bin);
      });

      it('dequantizing the .bin gives the expected f32 bits exactly', () => {
        const got = Array.from(dequantizeBx(bin), f32Hex);
        expect(got.length).toBe(json.matrix.rows * json.matrix.cols);
        expect(got).toEqual(json.dequantizedF32Hex);
        expect(parseBx(bin).layout.bitsPerWeight).toBe(json.bitsPerWeight);
      });

      it('decode -> encode is the identity, and the generator reproduces the files', () => {
        expect(encodeBx(decodeBx(bin))).toEqual(bin);
        const blob = encodeBx(vectorMatrix(spec), spec.name);
        expect(blob).toEqual(bin);
        expect(vectorJson(spec, blob)).toEqual(json);
      });
    });
  }
});
