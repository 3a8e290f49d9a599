// The cross-backend conformance suite against the CUDA backend. Without a
// usable GPU (no addon, no driver, no device) the suite skips itself and
// prints the provider's reason.
import { defineConformanceSuite } from '@bitexit/conformance';
import { cudaBackendProvider } from './index.js';

defineConformanceSuite({ provider: cudaBackendProvider });
