import type { Backend, BackendCreateOptions, BackendProvider } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import type { ResolvedTolerance } from './tolerance.js';

/** What the test bodies see: filled in by the suite's beforeAll. */
export interface SuiteState {
  readonly provider: BackendProvider;
  readonly createOptions: BackendCreateOptions | undefined;
  /** The CPU reference's factory when the caller supplies it (see ConformanceSuiteOptions.cpuReference). */
  readonly cpuReference: (() => Promise<Backend>) | undefined;
  /** Set when the probe said the backend cannot run here. */
  unavailable: string | null;
  backend: Backend | null;
  tolerance: ResolvedTolerance | null;
}

/** The few parts of vitest's test context the suite uses. */
export interface TestCtx {
  skip(note?: string): never;
}

export interface TestEnv {
  backend: Backend;
  tolerance: ResolvedTolerance;
  state: SuiteState;
  ctx: TestCtx;
  /** Skips (with a printed note) when the backend does not list `dtype`; f32 and f16 are required. */
  requireDType(dtype: WeightDType): void;
}

/** Registers one test under a stable id; `tags` are only for readability. */
export type Register = (id: string, body: (env: TestEnv) => Promise<void> | void, timeoutMs?: number) => void;
