/**
 * Cost of validating a Llama-3-sized tokenizer.json (128,000 tokens, 280,000 merges):
 * `node scripts/bench-validate.mjs`. Prints JSON.parse, validation and fromJSON times.
 */
import { HuggingFaceTokenizer } from '../hf.js';
import { validateTokenizerJson } from '../hf-schema.js';
import { syntheticByteLevelTokenizer } from '../test/synthetic.js';

const base = syntheticByteLevelTokenizer('llama3').json as { model: { vocab: Record<string, number> } };
const vocab: Record<string, number> = { ...base.model.vocab };
let n = Object.keys(vocab).length;
for (let i = 0; n < 128_000; i++) vocab[`tok${i}`] = n++;
const merges: Array<[string, string]> = [];
for (let i = 0; i < 280_000; i++) merges.push([`tok${i % 1000}`, `x${i}`]);
const text = JSON.stringify({ ...base, model: { ...base.model, vocab, merges } });
for (let round = 0; round < 3; round++) {
  let t0 = performance.now();
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const parse = performance.now() - t0;
  t0 = performance.now();
  validateTokenizerJson(parsed, 'bench');
  const validate = performance.now() - t0;
  t0 = performance.now();
  HuggingFaceTokenizer.fromJSON(parsed);
  const load = performance.now() - t0;
  console.log(`${(text.length / 1e6).toFixed(1)} MB: JSON.parse ${parse.toFixed(0)} ms, validation ${validate.toFixed(0)} ms, fromJSON (validation included) ${load.toFixed(0)} ms`);
}
