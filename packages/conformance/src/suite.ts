import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Backend, BackendCreateOptions, BackendProvider } from '@bitexit/backend';
import type { WeightDType } from '@bitexit/format';
import type { Register, SuiteState, TestCtx, TestEnv } from './context.js';
import { resolveTolerance, type ToleranceOptions } from './tolerance.js';
import { defineOpTests } from './tests/ops.js';
import { defineProgramTests } from './tests/program.js';
import { defineErrorTests } from './tests/errors.js';
import { defineExitTests } from './tests/exit.js';
import { defineModelChecks } from './model-checks.js';

export interface ConformanceSuiteOptions {
  provider: BackendProvider;
  /** Passed to provider.create. */
  options?: BackendCreateOptions;
  /**
   * Test ids known to fail on this backend (printed, run as skipped). An entry
   * ending in '*' matches every id that starts with the rest, e.g. 'op/matmul/q8_0/*'.
   */
  skip?: string[];
  /** Overrides of the default bounds for the backend's floatPrecision. */
  tolerance?: ToleranceOptions;
  /** Whole-model checks (need the engine and the fixtures). Default true. */
  models?: boolean;
  /**
   * Creates the CPU reference for the whole-model comparisons. Default: a
   * dynamic import of @bitexit/backend-cpu (not a dependency of this package);
   * bundles that cannot resolve it at run time (the GPU bundles) pass it here.
   */
  cpuReference?: () => Promise<Backend>;
}

const REQUIRED_DTYPES: readonly WeightDType[] = ['f32', 'f16'];

function matcher(patterns: readonly string[]): { matches(id: string): string | null; unused(): string[] } {
  const used = new Set<string>();
  return {
    matches(id) {
      for (const p of patterns) {
        if (p === id || (p.endsWith('*') && id.startsWith(p.slice(0, -1)))) {
          used.add(p);
          return p;
        }
      }
      return null;
    },
    unused: () => patterns.filter((p) => !used.has(p)),
  };
}

/**
 * Defines the conformance suite (vitest describe/it blocks) for one backend:
 * every op against the float64 oracle over many shapes and weight types,
 * multi-op programs replayed over several steps, typed error behaviour, and
 * whole-model checks against golden outputs of llama2.c/llama.cpp.
 */
export function defineConformanceSuite(options: ConformanceSuiteOptions): void {
  const { provider } = options;
  const tag = `[conformance:${provider.name}]`;
  const skips = matcher(options.skip ?? []);
  const state: SuiteState = { provider, createOptions: options.options, cpuReference: options.cpuReference, unavailable: null, backend: null, tolerance: null };
  const notedDTypes = new Set<string>();

  const register: Register = (id, body, timeoutMs) => {
    const skippedBy = skips.matches(id);
    if (skippedBy) {
      it.skip(`${id} [known gap: ${skippedBy}]`, () => {});
      return;
    }
    it(
      id,
      async (ctx) => {
        const tctx = ctx as unknown as TestCtx;
        if (state.unavailable !== null) tctx.skip(`backend '${provider.name}' unavailable: ${state.unavailable}`);
        if (!state.backend || !state.tolerance) throw new Error(`${tag} backend was not created (see beforeAll)`);
        const backend = state.backend;
        const env: TestEnv = {
          backend,
          tolerance: state.tolerance,
          state,
          ctx: tctx,
          requireDType(dtype) {
            if (backend.capabilities.weightDTypes.includes(dtype)) return;
            if (REQUIRED_DTYPES.includes(dtype)) {
              throw new Error(`backend '${provider.name}' must support weight dtype ${dtype} (capabilities list ${backend.capabilities.weightDTypes.join(', ')})`);
            }
            const note = `${tag} weight dtype ${dtype} not in capabilities.weightDTypes: its tests are skipped`;
            if (!notedDTypes.has(dtype)) {
              notedDTypes.add(dtype);
              console.warn(note);
            }
            tctx.skip(note);
          },
        };
        await body(env);
      },
      timeoutMs,
    );
  };

  describe(`conformance: ${provider.name}`, () => {
    beforeAll(async () => {
      const listed = options.skip ?? [];
      if (listed.length) console.warn(`${tag} known gaps skipped: ${listed.join(', ')}`);
      let availability;
      try {
        availability = await provider.probe();
      } catch (e) {
        availability = { ok: false as const, reason: `probe threw: ${(e as Error).message}` };
      }
      if (!availability.ok) {
        state.unavailable = availability.reason;
        console.warn(`${tag} skipping the whole suite: backend unavailable: ${availability.reason}`);
        return;
      }
      state.backend = await provider.create(options.options);
      state.tolerance = resolveTolerance(state.backend.capabilities.floatPrecision, options.tolerance);
    });

    afterAll(async () => {
      const stale = skips.unused();
      if (stale.length) console.warn(`${tag} skip entries that matched no test (typo or stale?): ${stale.join(', ')}`);
      await state.backend?.dispose();
      state.backend = null;
    });

    describe('ops', () => defineOpTests(register));
    describe('programs', () => defineProgramTests(register));
    describe('errors', () => defineErrorTests(register));
    describe('early exit', () => defineExitTests(register));
    if (options.models !== false) describe('models', () => defineModelChecks(register, state));
  });
}
