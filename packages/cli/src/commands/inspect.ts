import { describeModel, openModel, type ModelDescription, type ModelSource } from '@bitexit/engine';
import { ggmlTypeAdvice } from '@bitexit/format';
import type { CliIO } from '../io.js';
import { requirePath } from '../model.js';
import { formatBytes } from '../progress.js';

export interface InspectOptions {
  tokenizer?: string;
  json?: boolean;
}

/** `inspect --json`: the engine's ModelDescription, with long metadata values (vocabularies) summarised. */
export type InspectJson = ModelDescription;

/** Long arrays (GGUF vocabularies...) are summarised so the output stays readable. */
function summariseValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (ArrayBuffer.isView(v)) return `[${(v as unknown as ArrayLike<unknown>).length ?? (v as ArrayBufferView).byteLength} values]`;
  if (v instanceof Map) return summariseValue(Object.fromEntries(v));
  if (Array.isArray(v)) return v.length > 16 ? `[array of ${v.length}]` : v.map(summariseValue);
  if (typeof v === 'string' && v.length > 200) return `${v.slice(0, 197)}...`;
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, summariseValue(x)]));
  }
  return v;
}

export function describeForCli(source: ModelSource): InspectJson {
  const d = describeModel(source);
  return { ...d, metadata: summariseValue(d.metadata) as Record<string, unknown> };
}

function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

export function formatInspect(d: InspectJson): string {
  const c = d.config;
  const out: string[] = [];
  out.push(`model         ${d.path}`);
  out.push(`format        ${d.format}`);
  out.push(`architecture  ${d.architecture}`);
  out.push(
    `size          ${formatCount(d.parameterCount)} parameters, ${formatBytes(d.weightBytes)} of weights, ${d.bitsPerWeight.toFixed(2)} bits per weight`,
  );
  out.push('hyperparameters');
  out.push(
    `  dim ${c.dim}, layers ${c.nLayers}, heads ${c.nHeads}, kv heads ${c.nKvHeads}, head dim ${c.headDim}, ffn ${c.ffnDim}, vocab ${c.vocabSize}, context ${c.contextLength}`,
  );
  const scaling = c.ropeScaling ? `${c.ropeScaling.type} x${c.ropeScaling.factor}` : 'none';
  out.push(
    `  rms eps ${Number(c.rmsEps.toPrecision(6))}, rope theta ${Number(c.ropeTheta.toPrecision(8))}, rope dims ${c.ropeDim} (${c.ropeStyle}), rope scaling ${scaling}, qkv bias ${c.qkvBias ? 'yes' : 'no'}, tied embeddings ${c.tiedEmbeddings ? 'yes' : 'no'}`,
  );
  const t = d.tokenizer;
  if (t) {
    const piece = (id: number | null) => (id === null ? 'none' : String(id));
    out.push(
      `tokenizer     ${t.kind}, ${t.vocabSize} tokens, bos ${piece(t.bosId)}, eos ${piece(t.eosId)}${t.stopIds.length ? `, stop ids ${t.stopIds.join(' ')}` : ''}, chat template ${t.hasChatTemplate ? 'yes' : 'no'}`,
    );
  } else {
    out.push('tokenizer     none in this file (pass --tokenizer PATH)');
  }
  out.push('weight types');
  const wt = Math.max(5, ...Object.keys(d.dtypes).map((k) => k.length));
  for (const [dtype, s] of Object.entries(d.dtypes)) {
    if (!s) continue;
    out.push(`  ${dtype.padEnd(wt)} ${String(s.tensors).padStart(4)} tensors  ${formatCount(s.parameters).padStart(8)} params  ${formatBytes(s.bytes).padStart(10)}`);
  }
  const conv = d.conversion;
  if (conv?.undecodable.length) {
    out.push(`load          refused: bitexit cannot decode ${conv.undecodable.join(', ')} (${ggmlTypeAdvice(conv.undecodable[0]!).split('; ')[0]})`);
  } else if (conv) {
    out.push(
      `load          converts ${conv.tensors} tensors (${conv.from.join(', ')}) to ${conv.to} matrices and f32 vectors: ${formatBytes(conv.loadedBytes)} in memory`,
    );
  }
  out.push(`tensors (${d.tensors.length})`);
  const w = Math.max(...d.tensors.map((x) => x.name.length), 4);
  const shape = (x: { shape: number[] }) => `[${x.shape.join(', ')}]`;
  const ws = Math.max(...d.tensors.map((x) => shape(x).length), 2);
  for (const x of d.tensors) {
    const src = x.sourceName !== x.name ? `  <- ${x.sourceName}` : '';
    const load = x.loadsAs === undefined ? '' : x.loadsAs === null ? '  (cannot be decoded)' : `  -> ${x.loadsAs} at load`;
    out.push(`  ${x.name.padEnd(w)}  ${x.dtype.padEnd(wt)} ${shape(x).padEnd(ws)}  ${(x.bytes === null ? 'size unknown' : formatBytes(x.bytes)).padStart(10)}${src}${load}`);
  }
  return out.join('\n') + '\n';
}

/** `bitexit inspect MODEL`: reads headers only; no weights are loaded or uploaded. */
export async function inspectCommand(model: string, opts: InspectOptions, io: CliIO): Promise<number> {
  await requirePath(model, 'model file');
  if (opts.tokenizer) await requirePath(opts.tokenizer, 'tokenizer file');
  const source = await openModel(model, opts.tokenizer ? { tokenizerPath: opts.tokenizer } : undefined);
  try {
    const d = describeForCli(source);
    io.stdout.write(opts.json ? JSON.stringify(d) + '\n' : formatInspect(d));
    return 0;
  } finally {
    await source.close();
  }
}
