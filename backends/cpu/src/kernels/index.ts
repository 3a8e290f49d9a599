/** The built-in CPU kernels and their registration. */
import { addKernel } from './add.js';
import { argmaxKernel } from './argmax.js';
import { attentionKernel } from './attention.js';
import { exitCheckKernel, exitRecordKernel, guardBeginKernel, guardEndKernel } from './exit_check.js';
import { embedBF16Kernel, embedBxKernel, embedF16Kernel, embedF32Kernel, embedQ8_0Kernel } from './embed.js';
import { kvStoreKernel } from './kv_store.js';
import { lastRowKernel } from './last_row.js';
import { matmulBF16Kernel, matmulF16Kernel, matmulF32Kernel, matmulQ8_0Kernel } from './matmul.js';
import { matmulBxKernel } from './matmul_bx.js';
import { type CpuKernel, type KernelRegistry } from './registry.js';
import { rmsnormBF16Kernel, rmsnormF16Kernel, rmsnormF32Kernel, rmsnormQ8_0Kernel } from './rmsnorm.js';
import { ropeKernel } from './rope.js';
import { sampleKernel } from './sample.js';
import { siluMulKernel } from './silu_mul.js';

// Each entry keeps its own op kind; the array is widened only for iteration.
export const BUILTIN_KERNELS: readonly CpuKernel[] = [
  embedF32Kernel,
  embedF16Kernel,
  embedBF16Kernel,
  embedQ8_0Kernel,
  embedBxKernel,
  rmsnormF32Kernel,
  rmsnormF16Kernel,
  rmsnormBF16Kernel,
  rmsnormQ8_0Kernel,
  matmulF32Kernel,
  matmulF16Kernel,
  matmulBF16Kernel,
  matmulQ8_0Kernel,
  matmulBxKernel,
  ropeKernel,
  kvStoreKernel,
  attentionKernel,
  siluMulKernel,
  addKernel,
  lastRowKernel,
  argmaxKernel,
  sampleKernel,
  exitCheckKernel,
  guardBeginKernel,
  guardEndKernel,
  exitRecordKernel,
] as unknown as readonly CpuKernel[];

/** Registers every built-in kernel on `registry` (keeps kernels registered there under other keys). */
export function registerBuiltinKernels(registry: KernelRegistry): void {
  for (const k of BUILTIN_KERNELS) if (!registry.has(k.kind, k.weightDType)) registry.register(k);
}
