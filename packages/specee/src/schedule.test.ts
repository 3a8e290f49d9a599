import { describe, expect, it } from 'vitest';
import { ExitScheduler, offlineFromCounts, offlineLayers } from './schedule.js';

describe('offline scheduling', () => {
  it('keeps the most frequent exit layers, never the last', () => {
    // 6 layers; exits: layer 2 ×5, layer 4 ×3, layer 1 ×1, full depth (5) ×20.
    const exits = [...Array(5).fill(2), ...Array(3).fill(4), 1, ...Array(20).fill(5)];
    expect(offlineLayers(exits, 6, { count: 2 })).toEqual([2, 4]);
    expect(offlineLayers(exits, 6, { count: 10 })).toEqual([1, 2, 4]);
    expect(offlineLayers(exits, 6, { coverage: 0.5 })).toEqual([2]);
    expect(offlineLayers(exits, 6, { coverage: 0.85 })).toEqual([2, 4]);
    expect(offlineLayers(exits, 6, { coverage: 1 })).toEqual([1, 2, 4]);
    expect(offlineFromCounts([0, 0, 0, 9])).toEqual([]);
  });
});

describe('online scheduling', () => {
  it('activates e−2, e, e+2 around the last 5 exits, unioned with the offline set', () => {
    const s = new ExitScheduler(12, [5]);
    expect(s.active()).toEqual([5]);
    s.record(3);
    expect(s.active()).toEqual([1, 3, 5]);
    s.record(11); // full depth: activates 9 (11 and 13 are out of range)
    expect(s.active()).toEqual([1, 3, 5, 9]);
    s.record(0);
    expect(s.active()).toEqual([0, 1, 2, 3, 5, 9]);
    for (let i = 0; i < 5; i++) s.record(8);
    expect(s.history).toEqual([8, 8, 8, 8, 8]);
    expect(s.active()).toEqual([5, 6, 8, 10]);
    s.reset();
    expect(s.active()).toEqual([5]);
  });

  it('never activates the last layer', () => {
    const s = new ExitScheduler(4, [3, 1]);
    s.record(1);
    expect(s.active()).toEqual([1]);
    s.record(3);
    expect(s.active()).toEqual([1]);
  });
});
