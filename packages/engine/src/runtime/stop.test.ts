import { describe, expect, it } from 'vitest';
import { StopStringFilter } from './stop.js';

describe('StopStringFilter', () => {
  it('passes text through when there are no stop strings', () => {
    const f = new StopStringFilter([]);
    expect(f.push('abc')).toEqual({ emit: 'abc', stopped: false });
  });

  it('holds back a possible stop prefix split across pushes and never emits the stop string', () => {
    const f = new StopStringFilter(['THE END']);
    expect(f.push('and so TH')).toEqual({ emit: 'and so ', stopped: false });
    expect(f.push('E EN')).toEqual({ emit: '', stopped: false });
    expect(f.push('D!')).toEqual({ emit: '', stopped: true });
  });

  it('releases held text when the prefix turns out not to be a stop string', () => {
    const f = new StopStringFilter(['\n\n']);
    expect(f.push('a\n')).toEqual({ emit: 'a', stopped: false });
    expect(f.push('b')).toEqual({ emit: '\nb', stopped: false });
    expect(f.flush()).toBe('');
  });

  it('cuts at the earliest of several stop strings', () => {
    const f = new StopStringFilter(['xyz', 'b']);
    expect(f.push('aaxyzb')).toEqual({ emit: 'aa', stopped: true });
  });

  it('flush returns pending text', () => {
    const f = new StopStringFilter(['STOP']);
    f.push('hello ST');
    expect(f.flush()).toBe('ST');
  });
});
