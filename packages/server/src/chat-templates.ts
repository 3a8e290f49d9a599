import { readFile } from 'node:fs/promises';
import { FileAccessError } from '@bitexit/format';
import { renderChatTemplate } from '@bitexit/tokenizer';

/**
 * Chat templates the server ships, chosen by name with `--chat-template NAME`
 * for a model whose file carries none. They are the templates of the model
 * families named (Hugging Face `tokenizer_config.json`), reduced to text
 * messages. A model is not told which one it was trained with: only the user
 * can pick, so none is ever applied unasked.
 */
export const BUILTIN_CHAT_TEMPLATES: Readonly<Record<string, string>> = {
  // ChatML (Qwen2, OpenHermes, SmolLM…).
  chatml:
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
  // Llama 2 chat ([INST] … [/INST]), with the system prompt folded into the first user turn.
  llama2:
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = '<<SYS>>\\n' + messages[0]['content'] + '\\n<</SYS>>\\n\\n' %}" +
    "{% else %}{% set loop_messages = messages %}{% set system_message = '' %}{% endif %}" +
    "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
    "{% if loop.index0 == 0 %}{% set content = system_message + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}" +
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}",
  // Plain transcript ("User: …\nAssistant: …") for base models trained on prose, such as the demo model and stories260K.
  plain:
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}" +
    "{% elif message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n' }}{% else %}{{ 'Assistant: ' + message['content'] + '\\n' }}{% endif %}{% endfor %}" +
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
};

/**
 * Resolves `--chat-template FILE|NAME`: a built-in name, else a Jinja file.
 * The template is rendered once here so a broken one fails at startup, not on
 * the first request.
 */
export async function loadChatTemplate(spec: string): Promise<string> {
  let template = BUILTIN_CHAT_TEMPLATES[spec];
  if (template === undefined) {
    try {
      template = await readFile(spec, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const problem =
        code === 'ENOENT'
          ? `chat template file not found (built-in templates: ${Object.keys(BUILTIN_CHAT_TEMPLATES).join(', ')})`
          : `cannot read chat template (${code ?? (e as Error).message})`;
      throw new FileAccessError(spec, problem, { cause: e });
    }
  }
  renderChatTemplate(template, [{ role: 'user', content: 'hello' }], { add_generation_prompt: true });
  return template;
}
