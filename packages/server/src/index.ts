export { createServer, type BitexitServer, type ServedModel, type ServerOptions } from './server.js';
export { BUILTIN_CHAT_TEMPLATES, loadChatTemplate } from './chat-templates.js';
export { ApiError, QueueFullError, type ApiErrorBody, type ApiErrorType } from './errors.js';
export { LIMITS } from './schemas.js';
