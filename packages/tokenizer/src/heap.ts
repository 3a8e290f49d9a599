/**
 * Binary max-heap of merge candidates (bigrams) kept in parallel typed arrays,
 * as llama.cpp's std::priority_queue of llm_bigram_spm / llm_bigram_bpe.
 * Order: higher `priority` first; on ties the smaller `left` symbol index
 * first (the leftmost pair), exactly llama.cpp's comparators.
 */
export class BigramHeap {
  private prio: Float64Array;
  private left: Int32Array;
  private right: Int32Array;
  private size: Int32Array;
  private n = 0;

  constructor(capacity = 64) {
    const c = Math.max(16, capacity);
    this.prio = new Float64Array(c);
    this.left = new Int32Array(c);
    this.right = new Int32Array(c);
    this.size = new Int32Array(c);
  }

  get length(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
  }

  /** True when entry i must come out before entry j. */
  private before(i: number, j: number): boolean {
    const a = this.prio[i];
    const b = this.prio[j];
    return a > b || (a === b && this.left[i] < this.left[j]);
  }

  private swap(i: number, j: number): void {
    let t = this.prio[i];
    this.prio[i] = this.prio[j];
    this.prio[j] = t;
    t = this.left[i];
    this.left[i] = this.left[j];
    this.left[j] = t;
    t = this.right[i];
    this.right[i] = this.right[j];
    this.right[j] = t;
    t = this.size[i];
    this.size[i] = this.size[j];
    this.size[j] = t;
  }

  push(priority: number, left: number, right: number, size: number): void {
    if (this.n === this.prio.length) this.grow();
    let i = this.n++;
    this.prio[i] = priority;
    this.left[i] = left;
    this.right[i] = right;
    this.size[i] = size;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry; its fields are returned through `out` ([left, right, size]). Returns false when empty. */
  pop(out: Int32Array): boolean {
    if (this.n === 0) return false;
    out[0] = this.left[0];
    out[1] = this.right[0];
    out[2] = this.size[0];
    this.n--;
    if (this.n > 0) {
      this.prio[0] = this.prio[this.n];
      this.left[0] = this.left[this.n];
      this.right[0] = this.right[this.n];
      this.size[0] = this.size[this.n];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < this.n && this.before(l, best)) best = l;
        if (r < this.n && this.before(r, best)) best = r;
        if (best === i) break;
        this.swap(i, best);
        i = best;
      }
    }
    return true;
  }

  private grow(): void {
    const c = this.prio.length * 2;
    const p = new Float64Array(c);
    p.set(this.prio);
    this.prio = p;
    const l = new Int32Array(c);
    l.set(this.left);
    this.left = l;
    const r = new Int32Array(c);
    r.set(this.right);
    this.right = r;
    const s = new Int32Array(c);
    s.set(this.size);
    this.size = s;
  }
}
