import { describe, expect, it } from 'vitest';
import { NgramDrafter } from './ngram.js';
import { SpeceeFileError } from '../errors.js';

describe('NgramDrafter', () => {
  const corpus = [
    [1, 5, 6, 7, 8, 5, 6, 7, 9],
    [1, 5, 6, 7, 8, 3, 3, 3],
  ];

  it('prefers a suffix match inside the context', async () => {
    const d = NgramDrafter.train(corpus);
    // Context "…40 41 42 … 40 41": the suffix [40, 41] occurred before, followed by 42.
    expect((await d.propose([40, 41, 42, 43, 40, 41], 1))[0]).toBe(42);
  });

  it('falls back to the n-gram table, highest order first, then unigram, k distinct ids', async () => {
    const d = NgramDrafter.train(corpus);
    // 3-gram [6, 7] → 8 (twice) before 9 (once); the 4-gram context [5, 6, 7] says the same.
    expect(await d.propose([2, 5, 6, 7], 2)).toEqual([8, 9]);
    const four = await d.propose([2, 5, 6, 7], 4);
    expect(new Set(four).size).toBe(4);
    // Unknown context: unigram order (5, 6, 7 and 3 are the most frequent).
    const uni = await d.propose([99], 3);
    expect(uni).toEqual([3, 5, 6]);
  });

  it('round-trips through its blob and rejects damaged blobs', async () => {
    const d = NgramDrafter.train(corpus, { minContextCount: 1 });
    const blob = d.serialize();
    const e = NgramDrafter.deserialize(blob);
    for (const ctx of [[2, 5, 6, 7], [99], [1, 5], [8, 3, 3]]) expect(await e.propose(ctx, 4)).toEqual(await d.propose(ctx, 4));
    expect(() => NgramDrafter.deserialize(blob.slice(0, blob.length - 3))).toThrow(SpeceeFileError);
    const bad = blob.slice();
    bad[0] = 0;
    expect(() => NgramDrafter.deserialize(bad)).toThrow(/magic/);
    const huge = blob.slice();
    huge[3] = 1 << 30;
    expect(() => NgramDrafter.deserialize(huge)).toThrow(SpeceeFileError);
  });

  it('drops rare long contexts', () => {
    const pruned = NgramDrafter.train(corpus, { minContextCount: 2 });
    const full = NgramDrafter.train(corpus, { minContextCount: 1 });
    expect(pruned.contexts).toBeLessThan(full.contexts);
  });
});
