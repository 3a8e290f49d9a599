import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, openGgufModel } from '@bitexit/engine';
import { decodeToF32, dequantizeBx, encodeF16, encodeGguf, ggufValue, MemoryByteSink, MemoryByteSource, parseBx, readGguf, type GgufTensorSpec } from '@bitexit/format';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixturePath } from '@bitexit/format/node';
import { quantizeModel, QuantizeOptionError } from './quantize.js';

const GGUF = fixturePath('stories260K/stories260K.gguf');
const TEXT = fixturePath('text/tinystories-dev.txt');

describe.skipIf(!GGUF || !TEXT)('quantizeModel on stories260K', () => {
  it('meets the budget exactly as counted by the file, and the bx blobs hold the reported matrices', async () => {
    const sink = new MemoryByteSink();
    const calibText = readFileSync(TEXT!, 'utf8').slice(-20000);
    // Short calibration sequences keep the default measured sensitivity (3 × 35 probe runs) fast.
    // finetune 0: the fine-tuning has its own test below.
    const r = await quantizeModel(GGUF!, sink, { bits: 3.2, calibText, calibTokens: 512, calibSeqLen: 64, sensitivityTokens: 64, finetune: 0, backend: await createCpuBackend() });
    const bytes = sink.bytes();
    const g = await readGguf(new MemoryByteSource('q.gguf', bytes));
    const bx = g.tensors.filter((t) => t.dtype === 'bx');
    expect(bx).toHaveLength(35);
    let bits = 0;
    let weights = 0;
    for (const t of bx) {
      const view = parseBx((await g.readTensor(t)).data, t.name);
      bits += 8 * view.layout.byteLength;
      weights += t.shape[0]! * t.shape[1]!;
    }
    expect(bits / weights).toBeCloseTo(r.bits_per_weight.matrices, 9);
    expect(r.bits_per_weight.matrices).toBeLessThanOrEqual(3.2);
    expect(r.bits_per_weight.matrices).toBeGreaterThan(3.1);
    expect(r.settings.gptq).toBe(true);
    expect(r.settings.sensitivity).toBe('measured');
    expect(r.settings.actOrder).toBe(true);
    expect(r.notes.some((n) => /measured sensitivity: KL .* on 64 calibration tokens/.test(n))).toBe(true);
    expect(r.settings.calibrationTokens).toBe(512);
    expect(g.getString('bitexit.quant.widths')).toBe('2,3,4');
    // Dequantized q projection stays close to the original: relative error well below 2-bit noise.
    const orig = await openGgufModel(new MemoryByteSource('orig', readFileSync(GGUF!)));
    const w = decodeToF32(await orig.tensors.get('blk.0.attn_q.weight')!.load());
    const wq = dequantizeBx((await g.readTensor(bx.find((t) => t.name === 'blk.0.attn_q.weight')!)).data);
    let num = 0;
    let den = 0;
    for (let i = 0; i < w.length; i++) {
      num += (w[i]! - wq[i]!) ** 2;
      den += w[i]! ** 2;
    }
    expect(num / den).toBeLessThan(0.1);
    const rep = r.per_tensor.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(rep.dtype).toBe('bx');
    expect(r.per_tensor.find((t) => t.name === 'token_embd.weight')!.dtype).toBe('q8_0');
    await orig.close();
  });

  it('fine-tuning lowers held-out perplexity at the same bits, tunes the norms and records itself', async () => {
    const text = readFileSync(TEXT!, 'utf8');
    const calibText = text.slice(-40000);
    const heldOut = text.slice(0, 30000);
    const backend = await createCpuBackend();
    const common = { bits: 2.9, calibText, calibTokens: 512, calibSeqLen: 64, sensitivity: 'relative' as const, finetuneTokens: 1024, backend };
    const ppl = async (bytes: Uint8Array) => {
      const src = await openGgufModel(new MemoryByteSource('q.gguf', bytes));
      const model = await loadModel(src, { backend: await createCpuBackend(), contextLength: 64 });
      try {
        return (await model.perplexity(heldOut, { ctx: 64, maxChunks: 20 })).ppl;
      } finally {
        await model.dispose();
      }
    };
    const plain = new MemoryByteSink();
    const r0 = await quantizeModel(GGUF!, plain, { ...common, finetune: 0 });
    const tuned = new MemoryByteSink();
    const r1 = await quantizeModel(GGUF!, tuned, { ...common, finetune: 3 });
    expect(r0.settings.finetuneEpochs).toBe(0);
    expect(r1.settings.finetuneEpochs).toBe(3);
    expect(r1.bits_per_weight.matrices).toBe(r0.bits_per_weight.matrices);
    const note = r1.notes.find((n) => n.startsWith('fine-tuned'));
    expect(note).toMatch(/KL to the original ([\d.]+) → ([\d.]+) nats\/token on 128 held-out calibration tokens/);
    const [, before, after] = /([\d.]+) → ([\d.]+)/.exec(note!)!;
    expect(Number(after)).toBeLessThan(Number(before));
    const g = await readGguf(new MemoryByteSource('t.gguf', tuned.bytes()));
    expect(g.getNumber('bitexit.quant.finetune_epochs')).toBe(3);
    const p0 = await ppl(plain.bytes());
    const p1 = await ppl(tuned.bytes());
    expect(p1).toBeLessThan(p0 * 0.97);
    // The norms are trained (f32, free in bits), so they differ from the original's.
    const norm = async (bytes: Uint8Array) => {
      const src = await openGgufModel(new MemoryByteSource('x.gguf', bytes));
      return decodeToF32(await src.tensors.get('blk.0.ffn_norm.weight')!.load());
    };
    const n0 = await norm(plain.bytes());
    const n1 = await norm(tuned.bytes());
    expect(n1.some((v, i) => v !== n0[i])).toBe(true);
    await expect(quantizeModel(GGUF!, new MemoryByteSink(), { bits: 3.3, calibText, finetune: 1.5, backend })).rejects.toThrow(QuantizeOptionError);
  }, 400_000);

  it('restricts widths, keeps outliers, and refuses budgets below the narrowest layout', async () => {
    const sink = new MemoryByteSink();
    // 1% of 64 or 172 columns: 1 or 2 outlier slots per row (ELL), filled inside 2-bit groups.
    const r = await quantizeModel(GGUF!, sink, { bits: 3.3, widths: [2, 4], outliers: 0.01, clip: false });
    expect(r.width_fractions['3']).toBe(0);
    expect(r.outliers.count).toBeGreaterThan(0);
    const g = await readGguf(new MemoryByteSource('q.gguf', sink.bytes()));
    let slots = 0;
    for (const t of g.tensors.filter((x) => x.dtype === 'bx')) {
      const v = parseBx((await g.readTensor(t)).data, t.name);
      expect(v.layout.outlierSlots).toBeLessThanOrEqual(t.shape[1] === 172 ? 2 : 1);
      slots += v.layout.outlierSlots * v.layout.rows;
    }
    expect(r.outliers.count).toBeLessThanOrEqual(slots);
    expect(r.settings.calibrated).toBe(false);
    await expect(quantizeModel(GGUF!, new MemoryByteSink(), { bits: 2 })).rejects.toThrow(QuantizeOptionError);
    await expect(quantizeModel(GGUF!, new MemoryByteSink(), { groupSize: 48 })).rejects.toThrow(/group-size/);
  });

  it('spends a budget above all-4-bit group 64 on group 32, unless the group size is given', async () => {
    // All-4-bit at group 64 is 4.291 bits per weight on stories260K (README "Rate–distortion").
    const sink = new MemoryByteSink();
    const r = await quantizeModel(GGUF!, sink, { bits: 4.45 });
    expect(r.notes.some((n) => /group size 32/.test(n))).toBe(true);
    expect(r.bits_per_weight.matrices).toBeGreaterThan(4.3);
    expect(r.bits_per_weight.matrices).toBeLessThanOrEqual(4.45);
    const g = await readGguf(new MemoryByteSource('q.gguf', sink.bytes()));
    const t = g.tensors.find((x) => x.dtype === 'bx')!;
    expect(parseBx((await g.readTensor(t)).data, t.name).layout.groupSize).toBe(32);
    // With the group size given, a budget above all-4-bit is refused with the maximum, not silently clamped.
    await expect(quantizeModel(GGUF!, new MemoryByteSink(), { bits: 4.45, groupSize: 64 })).rejects.toThrow(
      /--bits 4\.45 is more than this model can spend .*group size 64: the maximum is 4\.29\d* bits per weight/,
    );
    const fixed = await quantizeModel(GGUF!, new MemoryByteSink(), { bits: 4.29, groupSize: 64 });
    expect(fixed.notes.some((n) => /group size 32/.test(n))).toBe(false);
    expect(fixed.bits_per_weight.matrices).toBeGreaterThan(4.25);
    expect(fixed.bits_per_weight.matrices).toBeLessThanOrEqual(4.29);
  });

  it('calibrates in a script that registered no backend (the CPU backend is registered on demand, as loadModel does)', async () => {
    const calibText = readFileSync(TEXT!, 'utf8').slice(-8000);
    const r = await quantizeModel(GGUF!, new MemoryByteSink(), { bits: 3.2, calibText, calibTokens: 64, calibSeqLen: 64, sensitivityTokens: 64, sensitivity: 'relative', refit: 0, finetune: 0 });
    expect(r.settings.calibrated).toBe(true);
  });

  it('refuses a budget above what the format can spend (--bits 9), saying the maximum', async () => {
    await expect(quantizeModel(GGUF!, new MemoryByteSink(), { bits: 9 })).rejects.toThrow(
      /--bits 9 is more than this model can spend with widths 2,3,4 at group size 32: the maximum is 4\.\d+ bits per weight/,
    );
    await expect(quantizeModel(GGUF!, new MemoryByteSink(), { bits: 3.6, widths: [2, 3] })).rejects.toThrow(/widths 2,3 .*maximum is 3\./);
  });

  it('carries an EAGLE draft head (eagle.* tensors, bitexit.eagle.* keys) through unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quant-eagle-'));
    try {
      const g = await readGguf(new MemoryByteSource('s.gguf', readFileSync(GGUF!)));
      const head = encodeF16(Float32Array.from({ length: 64 * 128 }, (_, i) => Math.sin(i) / 8));
      const tensors: GgufTensorSpec[] = [];
      for (const t of g.tensors) tensors.push({ name: t.name, dtype: t.dtype!, shape: [...t.shape], data: (await g.readTensor(t)).data });
      tensors.push({ name: 'eagle.fc.weight', dtype: 'f16', shape: [64, 128], data: head });
      const withHead = join(dir, 'with-head.gguf');
      writeFileSync(withHead, await encodeGguf({ version: 3, metadata: [...g.metadata, ['bitexit.eagle.layout', ggufValue.string('eagle1')]], tensors }));
      const sink = new MemoryByteSink();
      await quantizeModel(withHead, sink, { bits: 3.3 });
      const q = await readGguf(new MemoryByteSource('q.gguf', sink.bytes()));
      expect(q.getString('bitexit.eagle.layout')).toBe('eagle1');
      const t = q.tensors.find((x) => x.name === 'eagle.fc.weight')!;
      expect(t.dtype).toBe('f16');
      expect(Buffer.from((await q.readTensor(t)).data).equals(Buffer.from(head))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
