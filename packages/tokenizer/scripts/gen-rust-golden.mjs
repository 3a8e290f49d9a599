/**
 * Regenerates src/test/rust-golden.json: reference ids and decodes from the
 * Rust `tokenizers` crate (its Node binding, npm `tokenizers` 0.23.2), for
 * the TinyStories-656K tokenizer.json and the synthetic byte-level tokenizers
 * of src/test/synthetic.ts. The binding is not a dependency of this package:
 *
 *   mkdir -p /tmp/tokref && cd /tmp/tokref && npm init -y && npm install tokenizers@0.23.2
 *   npx esbuild packages/tokenizer/src/test/synthetic.ts --bundle --format=esm --platform=node --outfile=/tmp/tokref/synth.mjs
 *   cp packages/tokenizer/scripts/gen-rust-golden.mjs /tmp/tokref/ && cd /tmp/tokref && node gen-rust-golden.mjs
 *   cp /tmp/tokref/golden.json packages/tokenizer/src/test/rust-golden.json
 *
 * (BITEXIT_FIXTURES or /work/shared/fixtures must hold the fixtures.)
 */
import tk from 'tokenizers';
import fs from 'fs';
import { syntheticByteLevelTokenizer, SYNTHETIC_CASES } from './synth.mjs';
const fnv = (ids) => { let h = 0x811c9dc5; for (const id of ids) { for (let k = 0; k < 4; k++) { h ^= (id >>> (8 * k)) & 0xff; h = Math.imul(h, 0x01000193) >>> 0; } } return h; };
const out = {};
for (const flavour of ['llama3', 'qwen2', 'gpt2']) {
  const { json } = syntheticByteLevelTokenizer(flavour);
  const t = tk.Tokenizer.fromString(JSON.stringify(json));
  const nonSpecialJson = { ...json, added_tokens: json.added_tokens.filter((a) => !a.special) };
  const t2 = tk.Tokenizer.fromString(JSON.stringify(nonSpecialJson));
  const cases = [];
  for (const s of SYNTHETIC_CASES) {
    const ids = (await t.encode(s, null, { addSpecialTokens: false })).getIds();
    // Rust renumbers the remaining added token when specials are removed: map tokens back to the original ids.
    const idOf = (tok) => json.model.vocab[tok] ?? json.added_tokens.find((a) => a.content === tok).id;
    const idsNoSpecial = (await t2.encode(s, null, { addSpecialTokens: false })).getTokens().map(idOf);
    const decoded = await t.decode(ids, false);
    cases.push({ text: s, parseSpecial: ids, plain: idsNoSpecial, decoded });
  }
  out[flavour] = cases;
}
// TinyStories-656K
const t = tk.Tokenizer.fromFile((process.env.BITEXIT_FIXTURES ?? '/work/shared/fixtures') + '/tinystories-656k/tokenizer.json');
const text = fs.readFileSync((process.env.BITEXIT_FIXTURES ?? '/work/shared/fixtures') + '/text/tinystories-dev.txt', 'utf8');
const all = (await t.encode(text, null, { addSpecialTokens: false })).getIds();
const paras = text.split('\n\n').slice(0, 200);
let pc = []; for (const p of paras) pc.push(...(await t.encode(p, null, { addSpecialTokens: false })).getIds());
const cases656 = [];
for (const s of ['Once upon a time', 'Hello 😀 world', '😀😀 x', 'é café naïve — “quotes” 日本語', '<|start_story|>Once upon a time', 'x<|end_story|> y', '  lead', 'tab\there', '<unk>', 'a  b\n\nc', ' ', '']) {
  cases656.push({ text: s, ids: (await t.encode(s, null, { addSpecialTokens: false })).getIds(), withBos: (await t.encode(s, null, { addSpecialTokens: true })).getIds() });
}
out.tinystories656k = { wholeDev: { count: all.length, fnv1a: fnv(all), first: all.slice(0, 40), last: all.slice(-20) }, first200Paragraphs: { count: pc.length, fnv1a: fnv(pc) }, cases: cases656 };
fs.writeFileSync('golden.json', JSON.stringify(out));
console.log(JSON.stringify(out.llama3.slice(0,3)), out.tinystories656k.wholeDev.count);
