import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { BitexitError } from '@bitexit/format';

export interface ChatTemplateMessage {
  role: string;
  content: string;
  [key: string]: unknown;
}

export interface ChatTemplateVars {
  bos_token?: string;
  eos_token?: string;
  add_generation_prompt?: boolean;
  /** Any other variables the template reads (e.g. tools, date_string). */
  [key: string]: unknown;
}

/** A chat template failed to parse, raised an exception, or failed while rendering. */
export class ChatTemplateError extends BitexitError {
  constructor(problem: string, options?: { cause?: unknown }) {
    super('E_CHAT_TEMPLATE', `chat template: ${problem}`, options);
  }
}

const parsed = new Map<string, Template>();

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** strftime subset used by chat templates (Llama 3.1: "%d %b %Y"). */
function strftimeNow(format: string): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return format.replace(/%[YmdbBHMS%]/g, (tok) => {
    switch (tok) {
      case '%Y':
        return String(d.getFullYear());
      case '%m':
        return pad(d.getMonth() + 1);
      case '%d':
        return pad(d.getDate());
      case '%b':
        return MONTHS[d.getMonth()].slice(0, 3);
      case '%B':
        return MONTHS[d.getMonth()];
      case '%H':
        return pad(d.getHours());
      case '%M':
        return pad(d.getMinutes());
      case '%S':
        return pad(d.getSeconds());
      default:
        return '%';
    }
  });
}

function range(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) {
    stop = start;
    start = 0;
  }
  const out: number[] = [];
  if (step === 0) throw new Error('range() step must not be zero');
  if (Math.abs((stop - start) / step) > 1e7) throw new Error('range() too large');
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** The globals @huggingface/jinja's Template.render() sets up (raise_exception is ours). */
const GLOBALS: Record<string, unknown> = {
  false: false,
  true: true,
  none: null,
  False: false,
  True: true,
  None: null,
  range,
  strftime_now: strftimeNow,
};

/**
 * Renders a Hugging Face chat template (Jinja) with @huggingface/jinja, the
 * interpreter transformers.js uses. `raise_exception(msg)` in the template
 * throws a ChatTemplateError with that message (e.g. Llama-2-chat's "roles
 * must alternate user/assistant/user/assistant/...").
 */
export function renderChatTemplate(template: string, messages: readonly ChatTemplateMessage[], vars: ChatTemplateVars = {}): string {
  let t = parsed.get(template);
  if (!t) {
    try {
      t = new Template(template);
    } catch (e) {
      throw new ChatTemplateError(`cannot parse: ${(e as Error).message}`, { cause: e });
    }
    if (parsed.size > 32) parsed.clear();
    parsed.set(template, t);
  }
  const raised: { message: string | null } = { message: null };
  const items: Record<string, unknown> = {
    bos_token: '',
    eos_token: '',
    add_generation_prompt: false,
    ...vars,
    messages: messages.map((m) => ({ ...m })),
    raise_exception: (msg?: unknown) => {
      raised.message = typeof msg === 'string' ? msg : String(msg ?? 'raise_exception called');
      throw new ChatTemplateError(raised.message);
    },
  };
  try {
    // Template.render() would declare its own raise_exception (a plain Error); build the environment here instead.
    const env = new Environment();
    for (const [k, v] of Object.entries(GLOBALS)) env.set(k, v);
    for (const [k, v] of Object.entries(items)) env.set(k, v);
    const result = new Interpreter(env).run(t.parsed);
    return String(result.value);
  } catch (e) {
    if (raised.message !== null) throw new ChatTemplateError(raised.message, { cause: e });
    throw new ChatTemplateError(`render failed: ${(e as Error).message}`, { cause: e });
  }
}
