import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createCpuBackend } from '@bitexit/backend-cpu';
import { openGgufModel } from '@bitexit/engine';
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
    const r = await quantizeModel(GGUF!, sink, { bits: 3.2, calibText, calibTokens: 512, calibSeqLen: 64, sensitivityTokens: 64, backend: await createCpuBackend() });
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
