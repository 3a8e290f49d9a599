/**
 * Kernel registry, tfjs-style: every op kind (and, for ops that read a weight,
 * every weight storage type) has a kernel registered under a key such as
 * `rope` or `matmul[q8_0]`. A kernel is a factory run once at compile time:
 * it receives the op with its handles already resolved through the context
 * and returns the step closure that `run` calls.
 */
import { UnsupportedOpError, type DeviceBuffer, type DeviceWeight, type Op, type OpKind, type SamplingParams } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import type { CpuWeightData } from '../storage.js';

/** The op variant of a given kind. */
export type OpOf<K extends OpKind> = Extract<Op, { kind: K }>;

/** Runtime scalars of one step. One object per compiled program, mutated in place by `run`. */
export interface StepState {
  /** Absolute position of row 0. */
  pos: number;
  /** Active rows. */
  n: number;
  sampling: SamplingParams | undefined;
}

/** What a kernel does on every run. */
export type KernelStep = (state: StepState) => void;

/** Compile-time services a kernel factory gets from the backend. */
export interface KernelContext {
  readonly backendName: string;
  /** The program's maxRows. */
  readonly maxRows: number;
  /** The program's label (for error messages). */
  readonly label: string;
  f32(buffer: DeviceBuffer): Float32Array;
  i32(buffer: DeviceBuffer): Int32Array;
  weight(weight: DeviceWeight): CpuWeightData;
  /** Zeroed f32 scratch memory owned by the compiled program (freed with it, counted in memoryInUse). */
  scratch(length: number): Float32Array;
  /** Counts other memory a kernel allocates for the program's lifetime in memoryInUse. */
  account(bytes: number): void;
}

export interface CpuKernel<K extends OpKind = OpKind> {
  readonly kind: K;
  /** For ops that read a weight (embed, rmsnorm, matmul): the storage type this kernel reads. */
  readonly weightDType?: WeightDType;
  readonly fn: (op: OpOf<K>, ctx: KernelContext) => KernelStep;
}

/** `matmul[q8_0]` for weight kernels, `rope` otherwise. */
export function kernelKey(kind: OpKind, weightDType?: WeightDType): string {
  return weightDType ? `${kind}[${weightDType}]` : kind;
}

/** The weight whose storage type selects the kernel, if the op reads one. */
export function opWeight(op: Op): DeviceWeight | undefined {
  switch (op.kind) {
    case 'embed':
      return op.table;
    case 'rmsnorm':
    case 'matmul':
      return op.weight;
    default:
      return undefined;
  }
}

export class KernelRegistry {
  private readonly kernels = new Map<string, CpuKernel>();

  constructor(readonly backendName: string) {}

  /** Registers (or replaces) a kernel. */
  register<K extends OpKind>(kernel: CpuKernel<K>): void {
    this.kernels.set(kernelKey(kernel.kind, kernel.weightDType), kernel as unknown as CpuKernel);
  }

  has(kind: OpKind, weightDType?: WeightDType): boolean {
    return this.kernels.has(kernelKey(kind, weightDType));
  }

  /** The kernel for an op; throws UnsupportedOpError naming the missing key. */
  lookup(kind: OpKind, weightDType?: WeightDType): CpuKernel {
    const key = kernelKey(kind, weightDType);
    const k = this.kernels.get(key);
    if (!k) throw new UnsupportedOpError(key, this.backendName);
    return k;
  }

  /** Kernel for a concrete op (selects by the weight's storage type). */
  lookupFor(op: Op): CpuKernel {
    return this.lookup(op.kind, opWeight(op)?.dtype);
  }

  /** Op kinds with at least one kernel. */
  kinds(): OpKind[] {
    const s = new Set<OpKind>();
    for (const k of this.kernels.values()) s.add(k.kind);
    return [...s];
  }

  /**
   * Weight types some weight-reading kernel registered here reads. A type is
   * not necessarily readable by every op (bx, a matrix format, has matmul and
   * embed kernels but no rmsnorm kernel); compiling an op without a kernel for
   * its weight's type fails with UnsupportedOpError naming the key.
   */
  weightDTypes(): WeightDType[] {
    const s = new Set<WeightDType>();
    for (const k of this.kernels.values()) if (k.weightDType) s.add(k.weightDType);
    return [...s];
  }

  keys(): string[] {
    return [...this.kernels.keys()];
  }
}

/** The registry the CPU backend uses. Extra kernels can be registered on it before compiling. */
export const cpuKernelRegistry = new KernelRegistry('cpu');

/** Registers a kernel with the CPU backend's registry. */
export function registerKernel<K extends OpKind>(kernel: CpuKernel<K>): void {
  cpuKernelRegistry.register(kernel);
}

/** Looks a kernel up in the CPU backend's registry (UnsupportedOpError when missing). */
export function getKernel(kind: OpKind, weightDType?: WeightDType): CpuKernel {
  return cpuKernelRegistry.lookup(kind, weightDType);
}
