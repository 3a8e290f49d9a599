import { BitexitError } from '@bitexit/format';

/** The prompt (plus what must follow it) does not fit in the KV cache. */
export class ContextLengthExceededError extends BitexitError {
  constructor(needed: number, contextLength: number) {
    super(
      'E_CONTEXT_LENGTH',
      `the prompt needs ${needed} tokens but the context holds ${contextLength}: shorten it or load the model with a larger contextLength`,
    );
  }
}

/** Text was given but the model has no tokenizer (llama2.c checkpoints need --tokenizer). */
export class TokenizerMissingError extends BitexitError {
  constructor(path: string) {
    super('E_NO_TOKENIZER', `${path}: this model file carries no tokenizer; pass a tokenizer file (e.g. --tokenizer tokenizer.bin)`);
  }
}

/** An option is out of range (negative max tokens, top-p above 1, ...). */
export class InvalidOptionError extends BitexitError {
  constructor(message: string) {
    super('E_INVALID_OPTION', message);
  }
}

/** The model has no chat template but chat was requested. */
export class NoChatTemplateError extends BitexitError {
  constructor(path: string) {
    super('E_NO_CHAT_TEMPLATE', `${path}: the model has no chat template; pass one (Jinja source) with the chatTemplate option, or use plain generation`);
  }
}
