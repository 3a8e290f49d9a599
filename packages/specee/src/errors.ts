import { BitexitError } from '@bitexit/format';

/** A SpecEE file (exit predictors, draft head, n-gram table) is malformed or does not fit the model. */
export class SpeceeFileError extends BitexitError {
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super('E_SPECEE_FILE', `${file}: ${problem}`);
  }
}

/** A SpecEE option is out of range or inconsistent. */
export class SpeceeOptionError extends BitexitError {
  constructor(message: string) {
    super('E_SPECEE_OPTION', message);
  }
}
