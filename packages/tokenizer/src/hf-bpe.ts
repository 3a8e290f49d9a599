import { ModelFormatError } from '@bitexit/format';
import { BigramHeap } from './heap.js';

type Json = Record<string, unknown>;

/**
 * The BPE model of Hugging Face tokenizers, as the Rust crate's
 * `BPE::merge_word` + `Word::merge_all`: one symbol per character (or per
 * `<0xNN>` byte token with byte_fallback, or one UNK per run of unknown
 * characters with fuse_unk), then merges applied lowest rank first, ties to
 * the leftmost pair, with a priority queue over a linked list.
 *
 * Replaces the JS port's BPE model, which gives the same ids but is an order
 * of magnitude slower on long words (a Llama-style tokenizer.json without
 * pre-tokenizer makes the whole text one word).
 */
export class BpeModel {
  /** Model vocabulary (not added tokens). */
  readonly vocab: Map<string, number>;
  private readonly mergeOf = new Map<number, number>(); // (a * keyBase + b) -> merge index
  private readonly keyBase: number;
  private readonly mergeNewId: Int32Array;
  private readonly unkId: number | null;
  private readonly fuseUnk: boolean;
  private readonly byteFallback: boolean;
  private readonly ignoreMerges: boolean;
  private readonly prefix: string | null;
  private readonly suffix: string | null;
  private readonly byteIds: Int32Array;

  constructor(model: Json, source: string) {
    const vocab = model.vocab;
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new ModelFormatError(source, 'BPE model has no vocab object');
    this.vocab = new Map();
    for (const [tok, id] of Object.entries(vocab as Record<string, unknown>)) {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= 2 ** 21) throw new ModelFormatError(source, `BPE vocab entry '${tok}' has invalid id ${String(id)}`);
      this.vocab.set(tok, id as number);
    }
    const unk = typeof model.unk_token === 'string' ? model.unk_token : null;
    this.unkId = unk !== null ? (this.vocab.get(unk) ?? null) : null;
    this.fuseUnk = model.fuse_unk === true;
    this.byteFallback = model.byte_fallback === true;
    this.ignoreMerges = model.ignore_merges === true;
    this.prefix = typeof model.continuing_subword_prefix === 'string' && model.continuing_subword_prefix ? model.continuing_subword_prefix : null;
    this.suffix = typeof model.end_of_word_suffix === 'string' && model.end_of_word_suffix ? model.end_of_word_suffix : null;
    this.byteIds = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const id = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      if (id !== undefined) this.byteIds[b] = id;
    }

    let maxId = 0;
    for (const id of this.vocab.values()) if (id > maxId) maxId = id;
    this.keyBase = maxId + 1;
    const K = this.keyBase;
    const merges = Array.isArray(model.merges) ? (model.merges as unknown[]) : [];
    this.mergeNewId = new Int32Array(merges.length);
    merges.forEach((m, i) => {
      let a: string;
      let b: string;
      if (typeof m === 'string') {
        const at = m.indexOf(' ');
        if (at < 0) throw new ModelFormatError(source, `BPE merge ${i} '${m}' is not two tokens separated by a space`);
        a = m.slice(0, at);
        b = m.slice(at + 1);
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
        a = m[0];
        b = m[1];
      } else {
        throw new ModelFormatError(source, `BPE merge ${i} is neither "a b" nor ["a", "b"]`);
      }
      const aId = this.vocab.get(a);
      const bId = this.vocab.get(b);
      const merged = this.prefix && b.startsWith(this.prefix) ? a + b.slice(this.prefix.length) : a + b;
      const newId = this.vocab.get(merged);
      // The Rust crate refuses such files; merges naming unknown tokens are skipped here.
      if (aId === undefined || bId === undefined || newId === undefined) return;
      this.mergeNewId[i] = newId;
      this.mergeOf.set(aId * K + bId, i); // last duplicate wins, as a Rust HashMap collect
    });
  }

  /** Ids of one pre-tokenized word. */
  tokenize(word: string, out: number[]): void {
    if (word.length === 0) return;
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    // Initial symbols.
    const ids: number[] = [];
    let unkPending = false;
    const chars = Array.from(word);
    const encoder = this.byteFallback ? new TextEncoder() : null;
    for (let i = 0; i < chars.length; i++) {
      let s = chars[i];
      if (i > 0 && this.prefix) s = this.prefix + s;
      if (i === chars.length - 1 && this.suffix) s = s + this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (unkPending) {
          ids.push(this.unkId as number);
          unkPending = false;
        }
        ids.push(id);
        continue;
      }
      if (encoder) {
        const bytes = encoder.encode(s);
        let ok = true;
        for (const b of bytes) if (this.byteIds[b] < 0) ok = false;
        if (ok) {
          // Rust pushes byte tokens without flushing a pending UNK first.
          for (const b of bytes) ids.push(this.byteIds[b]);
          continue;
        }
      }
      if (this.unkId !== null) {
        if (unkPending && !this.fuseUnk) ids.push(this.unkId);
        unkPending = true;
      }
      // No unk token: the character is dropped, as in Rust.
    }
    if (unkPending) ids.push(this.unkId as number);

    const n = ids.length;
    if (n < 2 || this.mergeOf.size === 0) {
      for (const id of ids) out.push(id);
      return;
    }
    const sym = Int32Array.from(ids);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = new BigramHeap(n);
    const mergeOf = this.mergeOf;
    const K = this.keyBase;
    // Priority: lower rank first -> push -rank; ties: leftmost pos first (the heap's tie rule).
    for (let i = 0; i + 1 < n; i++) {
      const m = mergeOf.get(sym[i] * K + sym[i + 1]);
      if (m !== undefined) heap.push(-m, i, 0, this.mergeNewId[m]);
    }
    const top = new Int32Array(3);
    while (heap.pop(top)) {
      const pos = top[0];
      const newId = top[2];
      if (!alive[pos]) continue;
      const r = next[pos];
      if (r < 0) continue;
      const m = mergeOf.get(sym[pos] * K + sym[r]);
      if (m === undefined || this.mergeNewId[m] !== newId) continue; // expired entry
      sym[pos] = newId;
      alive[r] = 0;
      next[pos] = next[r];
      if (next[r] >= 0) prev[next[r]] = pos;
      const p = prev[pos];
      if (p >= 0) {
        const mp = mergeOf.get(sym[p] * K + sym[pos]);
        if (mp !== undefined) heap.push(-mp, p, 0, this.mergeNewId[mp]);
      }
      const nx = next[pos];
      if (nx >= 0) {
        const mn = mergeOf.get(sym[pos] * K + sym[nx]);
        if (mn !== undefined) heap.push(-mn, pos, 0, this.mergeNewId[mn]);
      }
    }
    for (let i = 0; i !== -1; i = next[i]) out.push(sym[i]);
  }
}
