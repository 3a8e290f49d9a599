/**
 * JSON schemas of the request bodies (validated by Fastify with ajv, no type
 * coercion, no removal of unknown fields). Unknown fields are refused, as the
 * OpenAI API does; fields OpenAI defines but this server does not implement
 * are accepted only with their neutral value (checked in `unsupported.ts`).
 */

/** Bounds no real request reaches; they keep validation and tokenisation cheap. */
export const LIMITS = {
  messages: 4096,
  contentParts: 256,
  stopStrings: 4,
  stopLength: 256,
  nameLength: 256,
  modelLength: 256,
  maxTokens: 1 << 30,
  seed: Number.MAX_SAFE_INTEGER,
} as const;

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });

/** Fields OpenAI defines that take any JSON here; a non-neutral value is refused by name in the handler. */
const acceptedIfNeutral = {} as const;

const sampling = {
  model: { type: 'string', minLength: 1, maxLength: LIMITS.modelLength },
  max_tokens: nullable({ type: 'integer', minimum: 1, maximum: LIMITS.maxTokens }),
  temperature: nullable({ type: 'number', minimum: 0, maximum: 2 }),
  top_p: nullable({ type: 'number', minimum: 0, maximum: 1 }),
  seed: nullable({ type: 'integer', minimum: 0, maximum: LIMITS.seed }),
  stop: nullable({
    anyOf: [
      { type: 'string', minLength: 1, maxLength: LIMITS.stopLength },
      { type: 'array', maxItems: LIMITS.stopStrings, items: { type: 'string', minLength: 1, maxLength: LIMITS.stopLength } },
    ],
  }),
  stream: nullable({ type: 'boolean' }),
  stream_options: nullable({
    type: 'object',
    additionalProperties: false,
    properties: { include_usage: { type: 'boolean' }, include_obfuscation: { type: 'boolean' } },
  }),
  user: { type: 'string', maxLength: LIMITS.nameLength },
  n: acceptedIfNeutral,
  frequency_penalty: acceptedIfNeutral,
  presence_penalty: acceptedIfNeutral,
  logit_bias: acceptedIfNeutral,
  logprobs: acceptedIfNeutral,
} as const;

const textPart = {
  type: 'object',
  required: ['type', 'text'],
  additionalProperties: false,
  properties: { type: { const: 'text' }, text: { type: 'string' } },
} as const;

const message = {
  type: 'object',
  required: ['role', 'content'],
  additionalProperties: false,
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant'] },
    content: { anyOf: [{ type: 'string' }, { type: 'array', maxItems: LIMITS.contentParts, items: textPart }] },
    name: { type: 'string', maxLength: LIMITS.nameLength },
    refusal: { type: 'null' },
  },
} as const;

export const chatCompletionSchema = {
  type: 'object',
  required: ['model', 'messages'],
  additionalProperties: false,
  properties: {
    ...sampling,
    messages: { type: 'array', minItems: 1, maxItems: LIMITS.messages, items: message },
    max_completion_tokens: nullable({ type: 'integer', minimum: 1, maximum: LIMITS.maxTokens }),
    top_logprobs: acceptedIfNeutral,
    response_format: acceptedIfNeutral,
    tools: acceptedIfNeutral,
    tool_choice: acceptedIfNeutral,
    parallel_tool_calls: acceptedIfNeutral,
    functions: acceptedIfNeutral,
    function_call: acceptedIfNeutral,
    store: acceptedIfNeutral,
    metadata: acceptedIfNeutral,
    service_tier: acceptedIfNeutral,
    reasoning_effort: acceptedIfNeutral,
    modalities: acceptedIfNeutral,
  },
} as const;

export const completionSchema = {
  type: 'object',
  required: ['model', 'prompt'],
  additionalProperties: false,
  properties: {
    ...sampling,
    prompt: {
      anyOf: [
        { type: 'string' },
        { type: 'array', minItems: 1, maxItems: 1, items: { type: 'string' } },
        { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0, maximum: 0x7fffffff } },
      ],
    },
    echo: acceptedIfNeutral,
    suffix: acceptedIfNeutral,
    best_of: acceptedIfNeutral,
  },
} as const;

type Nullable<T> = T | null | undefined;

interface SamplingBody {
  model: string;
  max_tokens?: Nullable<number>;
  temperature?: Nullable<number>;
  top_p?: Nullable<number>;
  seed?: Nullable<number>;
  stop?: Nullable<string | string[]>;
  stream?: Nullable<boolean>;
  stream_options?: Nullable<{ include_usage?: boolean }>;
  user?: string;
  [neutral: string]: unknown;
}

export interface ChatMessageBody {
  role: 'system' | 'developer' | 'user' | 'assistant';
  content: string | { type: 'text'; text: string }[];
  name?: string;
}

export interface ChatCompletionBody extends SamplingBody {
  messages: ChatMessageBody[];
  max_completion_tokens?: Nullable<number>;
}

export interface CompletionBody extends SamplingBody {
  prompt: string | string[] | number[];
}

/**
 * OpenAI fields this server does not implement, with the values that mean
 * "off": anything else is refused with a 400 naming the field (never ignored).
 */
export const NEUTRAL_VALUES: Record<string, (v: unknown) => boolean> = {
  n: (v) => v === 1,
  frequency_penalty: (v) => v === 0,
  presence_penalty: (v) => v === 0,
  logit_bias: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
  logprobs: (v) => v === false,
  top_logprobs: (v) => v === 0,
  response_format: (v) => typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'text' && Object.keys(v).length === 1,
  tools: (v) => Array.isArray(v) && v.length === 0,
  tool_choice: (v) => v === 'none',
  parallel_tool_calls: (v) => typeof v === 'boolean',
  functions: (v) => Array.isArray(v) && v.length === 0,
  function_call: (v) => v === 'none',
  store: (v) => v === false,
  metadata: (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 0,
  service_tier: (v) => v === 'auto' || v === 'default',
  reasoning_effort: () => false,
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
  echo: (v) => v === false,
  suffix: (v) => v === '',
  best_of: (v) => v === 1,
};
