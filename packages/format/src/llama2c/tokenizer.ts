import type { ByteSource } from '../byte-source.js';
import { RangeReader } from '../internal/range-reader.js';

export interface Llama2cTokenizerData {
  maxTokenLength: number;
  /** Raw bytes of each piece (llama2.c stores pieces as bytes, not necessarily valid UTF-8). */
  pieces: Uint8Array[];
  scores: Float32Array;
}

/** Largest max_token_length accepted (real files use 16 to a few hundred). */
export const LLAMA2C_MAX_TOKEN_LENGTH = 1 << 16;

/**
 * Reads a llama2.c tokenizer.bin: int32 max_token_length, then for each of
 * `vocabSize` tokens a float32 score, an int32 byte length and the bytes.
 * Lengths are checked against max_token_length and the bytes left.
 */
export async function readLlama2cTokenizer(source: ByteSource, vocabSize: number): Promise<Llama2cTokenizerData> {
  const r: RangeReader = new RangeReader(source);
  if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) r.fail(`invalid vocabulary size ${vocabSize} for a llama2.c tokenizer`);
  const maxTokenLength = await r.i32('max_token_length');
  if (maxTokenLength <= 0 || maxTokenLength > LLAMA2C_MAX_TOKEN_LENGTH) {
    r.fail(`llama2.c tokenizer max_token_length ${maxTokenLength} is out of range (not a tokenizer.bin?)`);
  }
  // Every token takes at least 8 bytes (score + length).
  if (vocabSize > r.remaining / 8) {
    r.fail(`truncated: ${vocabSize} tokens need at least ${vocabSize * 8} bytes after the header but the file has ${r.remaining}`);
  }
  const pieces: Uint8Array[] = new Array(vocabSize);
  const scores = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) {
    if (!r.has(8)) await r.need(8, `token ${i}`);
    scores[i] = r.f32Now();
    const len = r.i32Now();
    if (len < 0 || len > maxTokenLength) {
      r.fail(`token ${i} has length ${len}, outside 0..max_token_length (${maxTokenLength})`);
    }
    pieces[i] = await r.bytesCopy(len, `bytes of token ${i}`);
  }
  return { maxTokenLength, pieces, scores };
}
