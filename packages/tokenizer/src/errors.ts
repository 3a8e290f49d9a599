import { BitexitError } from '@bitexit/format';

/**
 * A tokenizer method was called with an argument of the wrong kind (an id
 * that is not an integer, text that is not a string...): a caller's bug, not a
 * bad file, so it is not a ModelFormatError.
 */
export class TokenizerArgumentError extends BitexitError {
  constructor(message: string) {
    super('E_TOKENIZER_ARGUMENT', message);
  }
}
