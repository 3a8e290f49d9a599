/** embed: out[t] = table[ids[t]], decoding the row from the table's storage type. */
import { InvalidProgramError } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import { decodeRange } from '../storage.js';
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

function compileEmbed(op: OpOf<'embed'>, ctx: KernelContext): KernelStep {
  const table = ctx.weight(op.table);
  const ids = ctx.i32(op.ids);
  const out = ctx.f32(op.out);
  const V = table.rows;
  const D = table.cols;
  const label = ctx.label;
  return (s) => {
    for (let t = 0; t < s.n; t++) {
      const id = ids[t];
      if (!(id >= 0 && id < V)) {
        throw new InvalidProgramError(`program '${label}': token id ${id} at row ${t} is outside the vocabulary 0..${V - 1}`);
      }
      decodeRange(table, id * D, D, out, t * D);
    }
  };
}

function embedKernel(weightDType: WeightDType): CpuKernel<'embed'> {
  return { kind: 'embed', weightDType, fn: compileEmbed };
}

export const embedF32Kernel = embedKernel('f32');
export const embedF16Kernel = embedKernel('f16');
export const embedBF16Kernel = embedKernel('bf16');
export const embedQ8_0Kernel = embedKernel('q8_0');
/** bx tables: the looked-up row is dequantized exactly (decodeRange → dequantizeBxRows). */
export const embedBxKernel = embedKernel('bx');
