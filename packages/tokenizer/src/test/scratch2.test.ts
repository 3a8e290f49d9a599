import { it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { HuggingFaceTokenizer } from '../index.js';
import { syntheticByteLevelTokenizer } from './synthetic.js';
import golden from './rust-golden.json';
import { readText } from './helpers.js';
const fnv = (ids: number[]) => { let h = 0x811c9dc5; for (const id of ids) { for (let k = 0; k < 4; k++) { h ^= (id >>> (8 * k)) & 0xff; h = Math.imul(h, 0x01000193) >>> 0; } } return h; };
it('synthetic', () => {
  for (const fl of ['llama3', 'qwen2', 'gpt2'] as const) {
    const { json, config } = syntheticByteLevelTokenizer(fl);
    const t = HuggingFaceTokenizer.fromJSON(json, config);
    for (const c of (golden as any)[fl]) {
      const a = t.encode(c.text, { addBos: false, parseSpecial: true });
      const b = t.encode(c.text, { addBos: false, parseSpecial: false });
      const d = t.decode(a, { keepSpecial: true });
      if (JSON.stringify(a) !== JSON.stringify(c.parseSpecial) || JSON.stringify(b) !== JSON.stringify(c.plain) || d !== c.decoded)
        console.log(fl, JSON.stringify(c.text), a, c.parseSpecial, b, c.plain, JSON.stringify(d), JSON.stringify(c.decoded));
    }
  }
});
it('656k', () => {
  const dir = '/work/shared/fixtures/tinystories-656k/';
  const t = HuggingFaceTokenizer.fromJSON(JSON.parse(readFileSync(dir + 'tokenizer.json', 'utf8')), JSON.parse(readFileSync(dir + 'tokenizer_config.json', 'utf8')));
  const g = (golden as any).tinystories656k;
  for (const c of g.cases) {
    const a = t.encode(c.text, { addBos: false, parseSpecial: true });
    const b = t.encode(c.text, { parseSpecial: true });
    if (JSON.stringify(a) !== JSON.stringify(c.ids) || JSON.stringify(b) !== JSON.stringify(c.withBos)) console.log(JSON.stringify(c.text), a, c.ids, b, c.withBos);
  }
  const text = readText('text/tinystories-dev.txt')!;
  let t0 = performance.now();
  const all = t.encode(text, { addBos: false });
  console.log('whole', performance.now() - t0, all.length, fnv(all) === g.wholeDev.fnv1a);
  t0 = performance.now();
  const dec = t.decode(all);
  console.log('decode', performance.now() - t0, dec === text);
});
