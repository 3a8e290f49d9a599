/** Fixture paths for tests (null when absent; tests skip). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fixturePath } from '@bitexit/format/node';

export const storiesPath = fixturePath('stories260K/stories260K.gguf');
export const devTextPath = fixturePath('text/tinystories-dev.txt');
const demo = fileURLToPath(new URL('../../model-demo/model/bitexit-demo.gguf', import.meta.url));
export const demoPath: string | null = existsSync(demo) ? demo : null;
