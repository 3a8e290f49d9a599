import { describe, expect, it } from 'vitest';
import { ChatTemplateError, renderChatTemplate } from './index.js';

// meta-llama/Llama-2-7b-chat-hf tokenizer_config.json chat_template (Jinja source, with its \n escapes).
const LLAMA2_CHAT = String.raw`{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}`;

const CHATML = String.raw`{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`;

describe('renderChatTemplate', () => {
  it('Llama-2-chat: system prompt folded into the first user turn', () => {
    const out = renderChatTemplate(
      LLAMA2_CHAT,
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: ' Hi! ' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Tell a story.' },
      ],
      { bos_token: '<s>', eos_token: '</s>' },
    );
    // strip() applies to the whole first-turn content, so the user's leading space after <</SYS>> stays.
    expect(out).toBe('<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\n Hi! [/INST] Hello. </s><s>[INST] Tell a story. [/INST]');
  });

  it('Llama-2-chat: raise_exception becomes a ChatTemplateError with the message', () => {
    const bad = () => renderChatTemplate(LLAMA2_CHAT, [{ role: 'assistant', content: 'x' }], { bos_token: '<s>', eos_token: '</s>' });
    expect(bad).toThrow(ChatTemplateError);
    expect(bad).toThrow('chat template: Conversation roles must alternate user/assistant/user/assistant/...');
  });

  it('ChatML with and without the generation prompt', () => {
    const msgs = [
      { role: 'system', content: 'You are helpful.' },
      { role: 'user', content: 'Hi' },
    ];
    const base = '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n';
    expect(renderChatTemplate(CHATML, msgs, {})).toBe(base);
    expect(renderChatTemplate(CHATML, msgs, { add_generation_prompt: true })).toBe(base + '<|im_start|>assistant\n');
  });

  it('parse errors are ChatTemplateError', () => {
    expect(() => renderChatTemplate('{% for x in %}', [], {})).toThrow(ChatTemplateError);
  });
});
