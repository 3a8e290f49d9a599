export * from './tokenizer.js';
export { SentencePieceTokenizer, TokenType } from './spm.js';
export type { SentencePieceVocabSpec } from './spm.js';
export { HuggingFaceTokenizer, pickChatTemplate } from './hf.js';
export type { HuggingFaceTokenizerOptions } from './hf.js';
export { tokenizerFromGguf, gpt2GgufToTokenizerJson, preTokenizerRegex, LLAMA3_REGEX, QWEN2_REGEX, GPT2_REGEX } from './gguf.js';
export { renderChatTemplate, ChatTemplateError } from './chat.js';
export type { ChatTemplateMessage, ChatTemplateVars } from './chat.js';
export { TokenizerArgumentError } from './errors.js';
