import { encodeF32, encodeGguf, ggufValue, readGguf, writeGguf, decodeToF32, type ByteSink, type ByteSource, type GgufFile, type GgufMetadataValue, type GgufWriteSpec } from '@bitexit/format';
import { NgramDrafter } from './drafters/ngram.js';
import { SpeceeFileError } from './errors.js';
import { ExitPredictor } from './predictor.js';

export const EXITS_FILE_VERSION = 1;

/** Everything SpecEE needs besides the model: predictors, schedule, threshold, drafter reference. */
export interface ExitsSpec {
  nLayers: number;
  k: number;
  threshold: number;
  predictors: ReadonlyMap<number, ExitPredictor>;
  offline: readonly number[];
  online: { history: number; spread: readonly number[] };
  /** 'ngram' (table inside), 'eagle' (the target's own head), 'eagle:PATH', 'model:PATH'. */
  drafter: string;
  ngram?: NgramDrafter | null;
  /** Target model the predictors were trained for (name or path). */
  target?: string;
  seed?: number;
  /** Held-out precision/recall per predictor layer (same order as the layers). */
  metrics?: ReadonlyMap<number, { precision: number; recall: number }>;
}

const P = 'bitexit.specee.';

export function exitsWriteSpec(s: ExitsSpec): GgufWriteSpec {
  const layers = [...s.predictors.keys()].sort((a, b) => a - b);
  const meta: Array<[string, GgufMetadataValue]> = [
    ['general.architecture', ggufValue.string('specee')],
    ['general.name', ggufValue.string(`SpecEE exit predictors${s.target ? ` for ${s.target}` : ''}`)],
    [`${P}version`, ggufValue.uint32(EXITS_FILE_VERSION)],
    [`${P}n_layers`, ggufValue.uint32(s.nLayers)],
    [`${P}k`, ggufValue.uint32(s.k)],
    [`${P}threshold`, ggufValue.float32(s.threshold)],
    [`${P}layers`, ggufValue.numbers('int32', layers)],
    [`${P}offline_layers`, ggufValue.numbers('int32', [...s.offline])],
    [`${P}online.history`, ggufValue.uint32(s.online.history)],
    [`${P}online.spread`, ggufValue.numbers('int32', [...s.online.spread])],
    [`${P}drafter`, ggufValue.string(s.drafter)],
  ];
  if (s.target) meta.push([`${P}target`, ggufValue.string(s.target)]);
  if (s.seed !== undefined) meta.push([`${P}seed`, ggufValue.uint32(s.seed)]);
  if (s.metrics) {
    meta.push([`${P}heldout.precision`, ggufValue.numbers('float32', layers.map((l) => s.metrics!.get(l)?.precision ?? NaN))]);
    meta.push([`${P}heldout.recall`, ggufValue.numbers('float32', layers.map((l) => s.metrics!.get(l)?.recall ?? NaN))]);
  }
  if (s.ngram) meta.push([`${P}ngram.table`, ggufValue.numbers('int32', [...s.ngram.serialize()])]);
  const tensors = layers.flatMap((l) => {
    const p = s.predictors.get(l)!;
    const b = `specee.blk.${l}.`;
    return [
      { name: `${b}up.weight`, dtype: 'f32' as const, shape: [p.hidden, p.inputs], data: encodeF32(p.upW) },
      { name: `${b}up.bias`, dtype: 'f32' as const, shape: [p.hidden], data: encodeF32(p.upB) },
      { name: `${b}down.weight`, dtype: 'f32' as const, shape: [1, p.hidden], data: encodeF32(p.downW) },
      { name: `${b}down.bias`, dtype: 'f32' as const, shape: [1], data: encodeF32(Float32Array.of(p.downB)) },
    ];
  });
  return { metadata: meta, tensors, name: 'specee exits file' };
}

export async function writeExitsFile(sink: ByteSink, s: ExitsSpec): Promise<void> {
  await writeGguf(sink, exitsWriteSpec(s));
}

export async function encodeExitsFile(s: ExitsSpec): Promise<Uint8Array> {
  return encodeGguf(exitsWriteSpec(s));
}

/** Reads an exits file (a side file, or a model GGUF that carries `bitexit.specee.*` keys). */
export async function readExitsFile(source: ByteSource): Promise<ExitsSpec> {
  return exitsFromGguf(await readGguf(source), source.name);
}

export async function exitsFromGguf(g: GgufFile, file: string): Promise<ExitsSpec> {
  const fail = (p: string): never => {
    throw new SpeceeFileError(file, p);
  };
  const num = (key: string): number => {
    const v = g.getNumber(P + key);
    return typeof v === 'number' && Number.isFinite(v) ? v : fail(`missing or invalid '${P + key}'`);
  };
  const ints = (key: string): number[] => {
    const v = g.getArray(P + key);
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isInteger(x))) return fail(`missing or invalid '${P + key}' (an int32 array)`);
    return v as number[];
  };
  const version = num('version');
  if (version !== EXITS_FILE_VERSION) fail(`SpecEE file version ${version} is not supported (expected ${EXITS_FILE_VERSION})`);
  const nLayers = num('n_layers');
  const k = num('k');
  if (!Number.isInteger(nLayers) || nLayers < 1 || nLayers > 4096) fail(`n_layers ${nLayers} is out of range`);
  if (!Number.isInteger(k) || k < 1 || k > 64) fail(`k ${k} is out of range`);
  const threshold = num('threshold');
  const layers = ints('layers');
  const offline = ints('offline_layers');
  for (const l of [...layers, ...offline]) if (l < 0 || l >= nLayers - 1) fail(`layer ${l} is outside 0..${nLayers - 2}`);
  const byName = new Map(g.tensors.map((t) => [t.name, t]));
  const predictors = new Map<number, ExitPredictor>();
  const precision = g.getArray(`${P}heldout.precision`) as number[] | undefined;
  const recall = g.getArray(`${P}heldout.recall`) as number[] | undefined;
  const metrics = new Map<number, { precision: number; recall: number }>();
  for (const [idx, l] of layers.entries()) {
    const read = async (name: string, shape: number[]) => {
      const info = byName.get(`specee.blk.${l}.${name}`) ?? fail(`missing tensor 'specee.blk.${l}.${name}'`);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i] && shape[i] !== -1)) {
        fail(`tensor '${info.name}' has shape [${info.shape.join(', ')}], expected [${shape.map((d) => (d === -1 ? '*' : d)).join(', ')}]`);
      }
      return { data: decodeToF32(await g.readTensor(info)), shape: info.shape };
    };
    const up = await read('up.weight', [-1, 3 * k]);
    const hidden = up.shape[0]!;
    const upB = await read('up.bias', [hidden]);
    const down = await read('down.weight', [1, hidden]);
    const downB = await read('down.bias', [1]);
    predictors.set(l, new ExitPredictor(up.data, upB.data, down.data, downB.data[0]!));
    if (precision && recall) metrics.set(l, { precision: precision[idx] ?? NaN, recall: recall[idx] ?? NaN });
  }
  const drafter = g.getString(`${P}drafter`) ?? fail(`missing '${P}drafter'`);
  const table = g.getArray(`${P}ngram.table`);
  const ngram = Array.isArray(table) ? NgramDrafter.deserialize(table as number[], file) : null;
  const seed = g.getNumber(`${P}seed`);
  return {
    nLayers,
    k,
    threshold,
    predictors,
    offline,
    online: { history: num('online.history'), spread: ints('online.spread') },
    drafter,
    ngram,
    ...(g.getString(`${P}target`) !== undefined ? { target: g.getString(`${P}target`)! } : {}),
    ...(typeof seed === 'number' ? { seed } : {}),
    ...(metrics.size ? { metrics } : {}),
  };
}
