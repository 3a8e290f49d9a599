// The conformance suite on the CPU backend inside chromium: proves the harness (shims, fixture server) on a known-good backend.
import { defineConformanceSuite } from '@bitexit/conformance';
import { cpuBackendProvider } from '@bitexit/backend-cpu';
import { runInPage } from './page.js';

await runInPage(() => defineConformanceSuite({ provider: cpuBackendProvider }));
