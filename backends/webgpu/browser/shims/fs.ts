/** Browser stand-in for 'node:fs' (only what the suite uses), over the fixture manifest. */
import { lookup } from './fixture-files.js';

export function existsSync(path: string): boolean {
  return lookup(path) !== null;
}
