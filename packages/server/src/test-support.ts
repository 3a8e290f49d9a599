import { registerCpuBackend } from '@bitexit/backend-cpu';
import { loadModel, type Model } from '@bitexit/engine';
import { demoModelPath } from '@bitexit/model-demo';
import { createServer, type BitexitServer, type ServerOptions } from './server.js';
import { BUILTIN_CHAT_TEMPLATES } from './chat-templates.js';

/** The model every server test uses: the embedded demo model (shipped in the repository) on the CPU backend. */
export const MODEL_ID = 'bitexit-demo';

export async function loadDemoModel(): Promise<Model> {
  registerCpuBackend();
  return loadModel(demoModelPath(), { backend: 'cpu' });
}

/** A server on an ephemeral loopback port serving `model` with the `plain` chat template. */
export async function startServer(model: Model, options: Partial<ServerOptions> = {}): Promise<{ server: BitexitServer; url: string }> {
  const server = await createServer({ models: [{ model, id: MODEL_ID, chatTemplate: BUILTIN_CHAT_TEMPLATES.plain }], ...options });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, url };
}
