import { Template } from '@huggingface/jinja';
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
    return t.render(items);
  } catch (e) {
    if (raised.message !== null) throw new ChatTemplateError(raised.message, { cause: e });
    throw new ChatTemplateError(`render failed: ${(e as Error).message}`, { cause: e });
  }
}
