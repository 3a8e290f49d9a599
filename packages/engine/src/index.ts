export * from './api.js';
export * from './model/index.js';
export { DEFAULT_MAX_TOKENS, defaultMaxTokens, loadModel, Model } from './runtime/model.js';
export { DEFAULT_BACKEND_PACKAGE, ensureDefaultBackend } from './runtime/default-backend.js';
export { ChatSession, type ChatSessionOptions } from './runtime/chat-session.js';
export { chatPromptIds } from './runtime/chat-template.js';
export { ContextLengthExceededError, InvalidOptionError, NoChatTemplateError, TokenizerMissingError } from './runtime/errors.js';
export { ropeInvFreq } from './runtime/rope.js';
export * from './runtime/programs.js';
export { SeededRandom } from './runtime/random.js';
export {
  createEarlyExitRuntime,
  type EarlyExitConfig,
  type EarlyExitDrafter,
  type EarlyExitPredictor,
  type EarlyExitScheduler,
  type KvPolicy,
} from './runtime/early-exit.js';
