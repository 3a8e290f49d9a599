// The cross-backend conformance suite, run against the CPU reference backend
// (every op against a float64 oracle, whole-model goldens, error behaviour).
import { defineConformanceSuite } from '@bitexit/conformance';
import { cpuBackendProvider } from './index.js';

defineConformanceSuite({ provider: cpuBackendProvider });
