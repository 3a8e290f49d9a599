import { TokenizerArgumentError } from './errors.js';

/**
 * Argument checks of the public tokenizer methods. Ids must be safe integers
 * (integers outside the vocabulary are allowed: decode ignores them), text
 * must be a string: anything else is a caller's bug and a TokenizerArgumentError.
 */
export function checkId(id: unknown, where: string): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
    throw new TokenizerArgumentError(`${where}: token id ${describe(id)} is not an integer`);
  }
  return id;
}

export function checkIds(ids: unknown, where: string): readonly number[] {
  if (!Array.isArray(ids) && !(ArrayBuffer.isView(ids) && !(ids instanceof DataView))) {
    throw new TokenizerArgumentError(`${where}: ids must be an array of integers, got ${describe(ids)}`);
  }
  const list = ids as ArrayLike<unknown>;
  for (let i = 0; i < list.length; i++) checkId(list[i], where);
  return list as readonly number[];
}

export function checkText(text: unknown, where: string): string {
  if (typeof text !== 'string') throw new TokenizerArgumentError(`${where}: text must be a string, got ${describe(text)}`);
  return text;
}

function describe(x: unknown): string {
  if (typeof x === 'number') return String(x);
  if (typeof x === 'string') return JSON.stringify(x.length > 20 ? `${x.slice(0, 20)}…` : x);
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'an array';
  return `a ${typeof x}`;
}
