import { ModelFormatError } from '@bitexit/format';
import { parseByteToken } from './bytes.js';

/**
 * Decoding of Hugging Face `decoder` configs, token by token to bytes, so a
 * stream decoder can emit text as soon as its UTF-8 is complete and the
 * concatenation of streamed text equals the one-shot decode.
 *
 * Semantics follow the Rust `tokenizers` crate: the chain runs per token
 * until `Fuse` joins everything into one string; a `Strip` after `Fuse`
 * therefore acts on the start/end of the whole text (Llama/TinyStories
 * tokenizers strip the dummy-prefix space that way). `Metaspace` drops every
 * replacement char of the first token when its prepend scheme is not 'never'
 * (as Rust does). With no decoder at all, tokens are joined with spaces.
 */

type Value = string | Uint8Array;

type Step =
  | { kind: 'replace'; from: string | RegExp; to: string }
  | { kind: 'bytefallback' }
  | { kind: 'bytelevel' }
  | { kind: 'metaspace'; replacement: string; stripFirst: boolean }
  | { kind: 'strip'; content: string; start: number; stop: number }
  | { kind: 'join' };

export interface DecoderState {
  /** Bytes of one token (already filtered for special tokens). */
  token(piece: string): Uint8Array;
  /** Applies whole-text transforms (Strip after Fuse) to decoded text in order. */
  text(t: string): string;
  /** End of text: releases or drops held-back characters. */
  end(): string;
}

export interface DecoderChain {
  /** `tokensBefore`: tokens decoded earlier (stream prefix); `textBefore`: whether they produced text. */
  start(tokensBefore: number, textBefore?: boolean): DecoderState;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** GPT-2 byte-level alphabet: unicode char -> byte. */
const BYTE_LEVEL_DECODE: Map<string, number> = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const m = new Map<string, number>();
  bs.forEach((b, i) => m.set(String.fromCharCode(cs[i]), b));
  return m;
})();

/** Byte -> GPT-2 byte-level char. */
export const BYTE_LEVEL_ENCODE: string[] = (() => {
  const out = new Array<string>(256);
  for (const [ch, b] of BYTE_LEVEL_DECODE) out[b] = ch;
  return out;
})();

const encoder = new TextEncoder();

function byteLevelToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  let i = 0;
  for (const ch of s) {
    const b = BYTE_LEVEL_DECODE.get(ch);
    // Rust: a token with any char outside the alphabet is taken as its raw UTF-8.
    if (b === undefined) return encoder.encode(s);
    out[i++] = b;
  }
  return out.subarray(0, i);
}

function patternOf(p: unknown, source: string): string | RegExp {
  if (isObject(p)) {
    if (typeof p.String === 'string') return p.String;
    if (typeof p.Regex === 'string') {
      try {
        return new RegExp(p.Regex, 'gu');
      } catch {
        throw new ModelFormatError(source, `decoder Replace pattern /${p.Regex}/ is not a regular expression this runtime understands`);
      }
    }
  }
  throw new ModelFormatError(source, 'decoder Replace has no String or Regex pattern');
}

function flatten(cfg: unknown, source: string, out: Array<Json>): void {
  if (!isObject(cfg)) return;
  if (cfg.type === 'Sequence') {
    if (!Array.isArray(cfg.decoders)) throw new ModelFormatError(source, 'decoder Sequence has no decoders list');
    for (const d of cfg.decoders) flatten(d, source, out);
    return;
  }
  out.push(cfg);
}

export function createDecoderChain(cfg: unknown, source: string): DecoderChain {
  const perToken: Step[] = [];
  const textStrips: Array<{ content: string; start: number; stop: number }> = [];
  if (cfg === null || cfg === undefined) {
    perToken.push({ kind: 'join' });
  } else {
    const list: Json[] = [];
    flatten(cfg, source, list);
    let fused = false;
    for (const d of list) {
      switch (d.type) {
        case 'Fuse':
          fused = true;
          break;
        case 'Replace':
          perToken.push({ kind: 'replace', from: patternOf(d.pattern, source), to: typeof d.content === 'string' ? d.content : '' });
          break;
        case 'ByteFallback':
          perToken.push({ kind: 'bytefallback' });
          break;
        case 'ByteLevel':
          perToken.push({ kind: 'bytelevel' });
          break;
        case 'Metaspace': {
          const replacement = typeof d.replacement === 'string' ? d.replacement : '\u2581';
          const scheme = typeof d.prepend_scheme === 'string' ? d.prepend_scheme : d.add_prefix_space === false ? 'never' : 'always';
          perToken.push({ kind: 'metaspace', replacement, stripFirst: scheme !== 'never' });
          break;
        }
        case 'Strip': {
          const content = typeof d.content === 'string' ? d.content : ' ';
          const start = Number.isInteger(d.start) ? (d.start as number) : 0;
          const stop = Number.isInteger(d.stop) ? (d.stop as number) : 0;
          if (fused) textStrips.push({ content, start, stop });
          else perToken.push({ kind: 'strip', content, start, stop });
          break;
        }
        default:
          throw new ModelFormatError(source, `unsupported tokenizer decoder type '${String(d.type)}'`);
      }
    }
  }

  // Bytes of a token at index > 0 depend only on its piece: cache them.
  const cache = new Map<string, Uint8Array>();
  return {
    start(tokensBefore: number, textBefore = tokensBefore > 0): DecoderState {
      let index = tokensBefore;
      // Whole-text strip state (first Strip after Fuse wins; several are applied in order on the first one's state for simplicity).
      const strip = textStrips.length > 0 ? textStrips.reduce((a, b) => ({ content: a.content, start: a.start + b.start, stop: a.stop + b.stop })) : null;
      let stripLeft = strip && !textBefore ? strip.start : 0;
      let held = '';
      return {
        token(piece: string): Uint8Array {
          const i = index++;
          if (i > 0) {
            const hit = cache.get(piece);
            if (hit) return hit;
          }
          let v: Value = piece;
          for (const s of perToken) v = applyStep(s, v, i);
          const bytes = typeof v === 'string' ? encoder.encode(v) : v;
          if (i > 0 && cache.size < 1_000_000) cache.set(piece, bytes);
          return bytes;
        },
        text(t: string): string {
          if (!strip || t.length === 0) return t;
          let s = t;
          if (stripLeft > 0) {
            let k = 0;
            while (stripLeft > 0 && k < s.length && s[k] === strip.content) {
              k++;
              stripLeft--;
            }
            s = s.slice(k);
            if (s.length > 0) stripLeft = 0;
          }
          if (strip.stop > 0) {
            s = held + s;
            let k = s.length;
            let n = 0;
            while (n < strip.stop && k > 0 && s[k - 1] === strip.content) {
              k--;
              n++;
            }
            held = s.slice(k);
            s = s.slice(0, k);
          }
          return s;
        },
        end(): string {
          held = '';
          return '';
        },
      };
    },
  };
}

function applyStep(s: Step, v: Value, index: number): Value {
  if (typeof v !== 'string') return v;
  switch (s.kind) {
    case 'replace':
      return typeof s.from === 'string' ? v.split(s.from).join(s.to) : v.replace(s.from, s.to);
    case 'bytefallback': {
      const b = parseByteToken(v);
      return b >= 0 ? Uint8Array.of(b) : v;
    }
    case 'bytelevel':
      return byteLevelToBytes(v);
    case 'metaspace':
      return index === 0 && s.stripFirst ? v.split(s.replacement).join('') : v.split(s.replacement).join(' ');
    case 'strip': {
      const chars = Array.from(v);
      let a = 0;
      while (a < s.start && a < chars.length && chars[a] === s.content) a++;
      let b = chars.length;
      let n = 0;
      while (n < s.stop && b > a && chars[b - 1] === s.content) {
        b--;
        n++;
      }
      return chars.slice(a, b).join('');
    }
    case 'join':
      return index === 0 ? v : ' ' + v;
  }
}
