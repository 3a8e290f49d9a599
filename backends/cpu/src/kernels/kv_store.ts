/** kv_store: kCache[pos + t] = k[t], vCache[pos + t] = v[t]. `run` has checked pos + n against the caches. */
import type { CpuKernel, KernelContext, KernelStep, OpOf } from './registry.js';

function copy(src: Float32Array, dst: Float32Array, dstOffset: number, count: number): void {
  for (let i = 0; i < count; i++) dst[dstOffset + i] = src[i];
}

function compileKvStore(op: OpOf<'kv_store'>, ctx: KernelContext): KernelStep {
  const k = ctx.f32(op.k);
  const v = ctx.f32(op.v);
  const kc = ctx.f32(op.kCache);
  const vc = ctx.f32(op.vCache);
  const kw = op.k.shape[1];
  const vw = op.v.shape[1];
  return (s) => {
    copy(k, kc, s.pos * kw, s.n * kw);
    copy(v, vc, s.pos * vw, s.n * vw);
  };
}

export const kvStoreKernel: CpuKernel<'kv_store'> = { kind: 'kv_store', fn: compileKvStore };
