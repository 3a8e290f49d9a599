/**
 * Runtime logic against a scripted fake backend: what the engine asks of the
 * backend (positions, rows, prefix reuse) and what it does with the answers
 * (EOS, stop strings, max tokens, abort, context limit). Numerics are tested
 * through the conformance suite on real backends.
 */
import { describe, expect, it } from 'vitest';
import type { Backend, CompiledProgram, DeviceBuffer, DeviceWeight, Program, RunParams } from '@bitexit/backend';
import type { HostTensor } from '@bitexit/format';
import type { StreamDecoder, Tokenizer } from '@bitexit/tokenizer';
import type { ModelConfig, ModelSource, TensorEntry } from '../model/types.js';
import type { LoadProgress } from '../api.js';
import { DEFAULT_MAX_TOKENS, defaultMaxTokens, loadModel } from './model.js';
import { ContextLengthExceededError, InvalidOptionError } from './errors.js';

const ALPHABET = ' abcdefghijklmnopqrstuvwxyz.!'; // id = index + 3; 0 unk, 1 bos, 2 eos

function fakeTokenizer(): Tokenizer {
  const piece = (id: number) => (id >= 3 ? ALPHABET[id - 3]! : '');
  return {
    kind: 'sentencepiece-bpe',
    vocabSize: ALPHABET.length + 3,
    bosId: 1,
    eosId: 2,
    stopIds: [],
    encode: (text, o) => [...(o?.addBos ? [1] : []), ...[...text].map((c) => ALPHABET.indexOf(c) + 3)],
    decode: (ids) => ids.map(piece).join(''),
    idToPiece: piece,
    createStreamDecoder: (): StreamDecoder => ({ push: piece, flush: () => '' }),
    chatTemplate: null,
    specialTokens: {},
  };
}

const config: ModelConfig = {
  architecture: 'llama',
  dim: 4,
  nLayers: 1,
  nHeads: 1,
  nKvHeads: 1,
  headDim: 4,
  ffnDim: 4,
  vocabSize: ALPHABET.length + 3,
  contextLength: 16,
  rmsEps: 1e-5,
  ropeTheta: 10000,
  ropeDim: 4,
  ropeStyle: 'adjacent',
  ropeScaling: null,
  qkvBias: false,
  tiedEmbeddings: true,
};

function fakeSource(): ModelSource {
  const tensors = new Map<string, TensorEntry>();
  const add = (name: string, shape: number[]) =>
    tensors.set(name, {
      name,
      sourceName: name,
      dtype: 'f32',
      shape,
      byteLength: shape.reduce((a, b) => a * b, 1) * 4,
      load: async (): Promise<HostTensor> => ({ name, dtype: 'f32', shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4) }),
    });
  add('token_embd.weight', [config.vocabSize, 4]);
  add('output_norm.weight', [4]);
  for (const n of ['attn_norm', 'ffn_norm']) add(`blk.0.${n}.weight`, [4]);
  for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_gate', 'ffn_up', 'ffn_down']) add(`blk.0.${n}.weight`, [4, 4]);
  return {
    format: 'gguf',
    path: 'fake.gguf',
    config,
    tensors,
    tokenizer: fakeTokenizer(),
    metadata: {},
    weightBytes: [...tensors.values()].reduce((a, t) => a + t.byteLength, 0),
    close: async () => undefined,
  };
}

/** Emits the scripted tokens in order, one per sampling run; records every run. */
class ScriptedBackend implements Backend {
  readonly specificationVersion = 1 as const;
  readonly capabilities = {
    name: 'scripted',
    device: 'test',
    floatPrecision: 32 as const,
    weightDTypes: ['f32' as const],
    ops: [],
    limits: { maxBufferBytes: 1 << 30 },
  };
  runs: { label: string; pos: number; n: number; ids: number[] }[] = [];
  private next = 0;
  private id = 0;
  private labels = new Map<number, Program>();
  constructor(private readonly script: number[]) {}
  async uploadWeight(t: HostTensor): Promise<DeviceWeight> {
    return { kind: 'weight', id: ++this.id, name: t.name, dtype: t.dtype, shape: t.shape, byteLength: t.data.byteLength };
  }
  createBuffer(dtype: 'f32' | 'i32', shape: readonly [number, number], label: string): DeviceBuffer {
    return { kind: 'buffer', id: ++this.id, dtype, shape, label };
  }
  writeBuffer(): void {}
  async readBuffer(): Promise<Float32Array> {
    return new Float32Array(0);
  }
  compile(program: Program): CompiledProgram {
    const h = { kind: 'program' as const, id: ++this.id, label: program.label, maxRows: program.maxRows };
    this.labels.set(h.id, program);
    return h;
  }
  async run(p: CompiledProgram, params: RunParams) {
    const ids = [...((params.inputs?.[0]?.data as Int32Array) ?? [])];
    this.runs.push({ label: p.label, pos: params.pos, n: params.n, ids });
    if (p.label === 'decode' || p.label === 'prefill+sample') return [Int32Array.of(this.script[this.next++] ?? 3)];
    if (p.label === 'score') return [new Float32Array(params.n * config.vocabSize)];
    return [];
  }
  release(): void {}
  memoryInUse(): number {
    return 0;
  }
  async dispose(): Promise<void> {}
}

const ids = (s: string) => [...s].map((c) => ALPHABET.indexOf(c) + 3);

describe('Model runtime (scripted backend)', () => {
  it('prefills in chunks at the right positions, then decodes one token at a time', async () => {
    const backend = new ScriptedBackend(ids('xyz'));
    const model = await loadModel(fakeSource(), { backend, prefillChunk: 2 });
    const r = await model.generate('abcd', { temperature: 0, maxTokens: 3 }).result;
    expect(r.promptTokens).toEqual([1, ...ids('abcd')]);
    expect(r.text).toBe('xyz');
    expect(r.stats.finishReason).toBe('length');
    expect(backend.runs.map((x) => [x.label, x.pos, x.n])).toEqual([
      ['prefill', 0, 2],
      ['prefill', 2, 2],
      ['prefill+sample', 4, 1],
      ['decode', 5, 1],
      ['decode', 6, 1],
    ]);
    expect(backend.runs[3]!.ids).toEqual(ids('x'));
  });

  it('stops at EOS without emitting it, and at stop strings without emitting them', async () => {
    const a = await loadModel(fakeSource(), { backend: new ScriptedBackend([...ids('hi'), 2, ...ids('zz')]) });
    const r = await a.generate('a', { temperature: 0 }).result;
    expect(r.text).toBe('hi');
    expect(r.stats.finishReason).toBe('eos');
    const bosStop = await loadModel(fakeSource(), { backend: new ScriptedBackend([...ids('ok'), 1, ...ids('zz')]) });
    const rb = await bosStop.generate('a', { temperature: 0 }).result;
    expect(rb.text).toBe('ok');
    expect(rb.stats.finishReason).toBe('eos');
    const b = await loadModel(fakeSource(), { backend: new ScriptedBackend(ids('one. two')) });
    const chunks: string[] = [];
    const g = b.generate('a', { temperature: 0, stop: ['. t'] });
    for await (const c of g) chunks.push(c.text);
    expect(chunks.join('')).toBe('one');
    expect((await g.result).stats.finishReason).toBe('stop');
  });

  it('reuses the cached prefix of a follow-up prompt', async () => {
    const backend = new ScriptedBackend(ids('xxxxxx'));
    const model = await loadModel(fakeSource(), { backend, prefillChunk: 8 });
    await model.generate('abc', { temperature: 0, maxTokens: 1 }).result;
    backend.runs = [];
    await model.generate('abcde', { temperature: 0, maxTokens: 1 }).result;
    expect(backend.runs.map((x) => [x.label, x.pos, x.n])).toEqual([['prefill+sample', 4, 2]]);
  });

  it('ends with finishReason "context" when the KV cache is full, and rejects a prompt that cannot fit', async () => {
    const model = await loadModel(fakeSource(), { backend: new ScriptedBackend(ids('abcdefghijklmnopqrstu')), contextLength: 8 });
    const r = await model.generate('abc', { temperature: 0, maxTokens: 100 }).result;
    expect(r.stats.finishReason).toBe('context');
    expect(r.promptTokens.length + r.tokens.length).toBe(9); // 8 positions filled, the last sampled token has no slot
    await expect(model.generate('abcdefghij', { temperature: 0 }).result).rejects.toBeInstanceOf(ContextLengthExceededError);
  });

  it('by default stops at the context left after the prompt (finish "length", never "context")', async () => {
    const model = await loadModel(fakeSource(), { backend: new ScriptedBackend(ids('abcdefghijklmnopqrstu')), contextLength: 8 });
    const r = await model.generate('abc', { temperature: 0 }).result;
    expect(r.stats.finishReason).toBe('length');
    expect(r.tokens.length).toBe(8 - r.promptTokens.length);
    expect(r.tokens.length).toBe(defaultMaxTokens(8, 4));
    expect(defaultMaxTokens(4096, 10)).toBe(DEFAULT_MAX_TOKENS);
  });

  it('reports load progress once per tensor', async () => {
    const events: LoadProgress[] = [];
    const source = fakeSource();
    await loadModel(source, { backend: new ScriptedBackend([]), onProgress: (p) => events.push({ ...p }) });
    const uploads = events.filter((e) => e.phase === 'upload');
    expect(uploads.map((e) => e.tensor).sort()).toEqual([...source.tensors.keys()].sort());
    expect(uploads.at(-1)!.loadedBytes).toBe(source.weightBytes);
    expect(events.map((e) => e.phase).filter((p) => p !== 'upload')).toEqual(['open', 'compile', 'ready']);
  });

  it('perplexity() answers in camelCase like the rest of the API', async () => {
    const model = await loadModel(fakeSource(), { backend: new ScriptedBackend([]) });
    const r = await model.perplexity('abcdefghijklmnop', { ctx: 8 });
    expect(Object.keys(r).sort()).toEqual(['chunks', 'ctx', 'nll', 'ppl', 'tokensScored']);
    expect(r.tokensScored).toBe(2 * 3); // 2 chunks of 8, positions 4..6 scored in each
    expect(r.ppl).toBeCloseTo(config.vocabSize, 6); // all-zero logits: uniform
  });

  it('refuses a context longer than the model was trained on', async () => {
    await expect(loadModel(fakeSource(), { backend: new ScriptedBackend([]), contextLength: 17 })).rejects.toThrow(
      /a context of 17 tokens is more than the 16 fake\.gguf was trained on/,
    );
    await expect(loadModel(fakeSource(), { backend: new ScriptedBackend([]), contextLength: 17 })).rejects.toBeInstanceOf(InvalidOptionError);
    expect((await loadModel(fakeSource(), { backend: new ScriptedBackend([]), contextLength: 16 })).info.contextLength).toBe(16);
  });

  it('honours an AbortSignal and breaking out of the loop', async () => {
    const model = await loadModel(fakeSource(), { backend: new ScriptedBackend(ids('abcdefghij')) });
    const ac = new AbortController();
    const g = model.generate('a', { temperature: 0, signal: ac.signal, maxTokens: 10 });
    let n = 0;
    for await (const _ of g) if (++n === 2) ac.abort();
    expect((await g.result).stats.finishReason).toBe('abort');
    expect((await g.result).tokens.length).toBe(2);
    const g2 = model.generate('a', { temperature: 0, maxTokens: 10 });
    for await (const _ of g2) break;
    expect((await g2.result).tokens.length).toBe(1);
    // The model is released: the next call runs.
    expect((await model.generate('a', { temperature: 0, maxTokens: 1 }).result).tokens.length).toBe(1);
  });

  it('validates options with typed errors', async () => {
    const model = await loadModel(fakeSource(), { backend: new ScriptedBackend([]) });
    for (const bad of [{ maxTokens: -1 }, { temperature: -0.5 }, { topP: 0 }, { topK: 1.5 }, { minP: 2 }, { seed: -1 }, { repetitionPenalty: 0 }]) {
      await expect(model.generate('a', bad).result).rejects.toBeInstanceOf(InvalidOptionError);
    }
    await expect(model.generate([999], {}).result).rejects.toBeInstanceOf(InvalidOptionError);
  });
});
