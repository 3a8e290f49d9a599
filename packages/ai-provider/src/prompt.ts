import { UnsupportedFunctionalityError, type LanguageModelV4Prompt, type SharedV4Warning } from '@ai-sdk/provider';
import type { ChatMessage } from '@bitexit/engine';

/**
 * The AI SDK's standard prompt as chat messages for the model's chat template. Text parts of a
 * message are joined; files, tool calls and tool results cannot be represented and throw
 * UnsupportedFunctionalityError (the call fails rather than silently losing content); reasoning
 * parts of earlier assistant turns are left out with a warning.
 */
export function toChatMessages(prompt: LanguageModelV4Prompt, warnings: SharedV4Warning[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const message of prompt) {
    switch (message.role) {
      case 'system':
        messages.push({ role: 'system', content: message.content });
        break;
      case 'user':
      case 'assistant': {
        const texts: string[] = [];
        for (const part of message.content) {
          if (part.type === 'text') texts.push(part.text);
          else if (part.type === 'reasoning') {
            warnings.push({ type: 'other', message: 'reasoning parts of earlier assistant messages are not sent to the model' });
          } else {
            throw new UnsupportedFunctionalityError({
              functionality: `${part.type} parts in ${message.role} messages`,
              message: `bitexit models take text only: ${part.type} parts in ${message.role} messages are not supported`,
            });
          }
        }
        messages.push({ role: message.role, content: texts.join('') });
        break;
      }
      case 'tool':
        throw new UnsupportedFunctionalityError({
          functionality: 'tool messages',
          message: 'bitexit models do not call tools: tool messages are not supported',
        });
    }
  }
  return messages;
}
