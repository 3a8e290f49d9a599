/**
 * Measured (end-to-end) sensitivity: how much the model's output
 * distribution moves when ONE matrix is quantized. The allocator's per-group
 * errors are Hessian-weighted layer-output errors, which are comparable
 * inside a matrix but not across matrices (an error in attn_v reaches the
 * logits very differently from one in attn_q or in another layer). The probe
 * runs the whole model on a few calibration sequences, once in full
 * precision (reference log-probabilities kept on the host) and once per
 * (matrix, width) with only that matrix replaced, and reports the mean
 * KL(reference ‖ perturbed) per token. The allocator then scales each
 * matrix's errors so that their sum at each width equals the measured KL
 * (a first-order, additive model of the loss).
 */
import type { Backend } from '@bitexit/backend';
import { loadModel, type ModelConfig, type ModelSource, type TensorEntry } from '@bitexit/engine';
import type { HostTensor } from '@bitexit/format';
import { logSoftmax } from './finetune/transformer.js';

export class KlProbe {
  private constructor(
    private readonly backend: Backend,
    private readonly source: ModelSource,
    private readonly sequences: Int32Array[],
    private readonly reference: Float32Array[],
    private readonly vocab: number,
  ) {}

  /**
   * `source`'s tensors are read through `load` (the quantizer's layout: Q/K rows
   * permuted, RoPE style of `config`); the reference log-probs of `sequences` are
   * computed at once.
   */
  static async create(
    backend: Backend,
    source: ModelSource,
    config: ModelConfig,
    load: (name: string) => Promise<HostTensor>,
    sequences: Int32Array[],
  ): Promise<KlProbe> {
    const tensors = new Map<string, TensorEntry>();
    for (const [name, e] of source.tensors) tensors.set(name, { ...e, load: () => load(name) });
    const wrapped: ModelSource = { ...source, config, tensors, close: async () => {} };
    const V = config.vocabSize;
    const probe = new KlProbe(backend, wrapped, sequences, [], V);
    for (const logits of await probe.logits(new Map())) probe.reference.push(logSoftmax(logits, V));
    return probe;
  }

  get tokens(): number {
    return this.sequences.reduce((a, s) => a + s.length, 0);
  }

  private async logits(replace: Map<string, HostTensor>): Promise<Float32Array[]> {
    const tensors = new Map<string, TensorEntry>();
    for (const [name, e] of this.source.tensors) {
      const r = replace.get(name);
      tensors.set(name, r ? { ...e, load: async () => r } : e);
    }
    const seqLen = this.sequences[0]!.length;
    const model = await loadModel({ ...this.source, tensors }, { backend: this.backend, contextLength: seqLen });
    try {
      const out: Float32Array[] = [];
      for (const ids of this.sequences) {
        const rows = await model.logits(Array.from(ids));
        const flat = new Float32Array(rows.length * this.vocab);
        rows.forEach((r, i) => flat.set(r, i * this.vocab));
        out.push(flat);
      }
      return out;
    } finally {
      await model.dispose();
    }
  }

  /** Mean KL(reference ‖ model with `replace`) per token, in nats. */
  async kl(replace: Map<string, HostTensor>): Promise<number> {
    const V = this.vocab;
    const all = await this.logits(replace);
    let total = 0;
    let count = 0;
    all.forEach((logits, s) => {
      const q = logSoftmax(logits, V);
      const p = this.reference[s]!;
      for (let t = 0; t < q.length; t += V) {
        let kl = 0;
        for (let v = 0; v < V; v++) {
          const lp = p[t + v]!;
          kl += Math.exp(lp) * (lp - q[t + v]!);
        }
        total += Math.max(0, kl);
        count++;
      }
    });
    return count > 0 ? total / count : 0;
  }
}
