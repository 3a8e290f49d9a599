import type { Tokenizer } from '@bitexit/tokenizer';
import { renderChatTemplate } from '@bitexit/tokenizer';
import type { ChatMessage } from '../api.js';

/**
 * Renders `messages` with a Jinja chat template (ending with the assistant's generation prompt)
 * and tokenises the result, special-token strings included; BOS is prepended unless the
 * template already wrote it.
 */
export function chatPromptIds(tokenizer: Tokenizer, template: string, messages: readonly ChatMessage[]): number[] {
  const special = tokenizer.specialTokens;
  const text = renderChatTemplate(template, messages.map((m) => ({ role: m.role, content: m.content })), {
    bos_token: special.bos_token ?? '',
    eos_token: special.eos_token ?? '',
    add_generation_prompt: true,
  });
  const bos = special.bos_token;
  return tokenizer.encode(text, { addBos: !(bos && text.startsWith(bos)), parseSpecial: true });
}
