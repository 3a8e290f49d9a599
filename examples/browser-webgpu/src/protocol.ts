/** Messages between the page (main thread) and the model worker (src/worker.ts). */

export type BackendChoice = 'auto' | 'webgpu' | 'cpu';

export type ToWorker =
  | {
      type: 'load';
      name: string;
      /** The model GGUF (transferred). */
      bytes: Uint8Array<ArrayBuffer>;
      /** A SpecEE exits file found beside the model (MODEL.exits.gguf), if any (transferred). */
      exits: Uint8Array<ArrayBuffer> | null;
      backend: BackendChoice;
    }
  | { type: 'generate'; prompt: string; maxTokens: number; temperature: number; earlyExit: boolean }
  | { type: 'stop' };

export interface LoadedInfo {
  architecture: string;
  parameterCount: number;
  nLayers: number;
  contextLength: number;
  backend: string;
  bitsPerWeight: number;
  /** Backends `auto` passed over, and why (a software WebGPU adapter, ...). */
  skipped: { name: string; reason: string }[];
  /** Early exit the model can decode with: where the predictors came from, their drafter and threshold. */
  earlyExit: { from: string; drafter: string; threshold: number; layers: number } | null;
}

export interface DoneStats {
  finishReason: string;
  decodeTokensPerSecond: number;
  prefillTokensPerSecond: number;
  timeToFirstTokenMs: number;
  earlyExit: { layersPerToken: number; steps: number } | null;
}

export type FromWorker =
  | { type: 'progress'; phase: string; loadedBytes: number; totalBytes: number }
  | { type: 'ready'; info: LoadedInfo }
  | { type: 'chunk'; text: string }
  | { type: 'done'; stats: DoneStats }
  | { type: 'error'; during: 'load' | 'generate'; code: string | null; message: string };
