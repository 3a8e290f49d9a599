'use strict';
// @bitexit/conformance has no CommonJS build: its suite registers tests with
// vitest, which is ESM-only. require() gets this one clear error instead of
// Node's ERR_REQUIRE_ESM.
const error = new Error(
  "@bitexit/conformance is ESM-only (its suite runs inside vitest, which is ESM-only): import it from an ESM test file, e.g. `import { defineConformanceSuite } from '@bitexit/conformance'`",
);
error.code = 'ERR_REQUIRE_ESM';
throw error;
