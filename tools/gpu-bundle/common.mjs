// Shared by backend-cuda's and backend-webgpu's `npm run gpu:bundle`: the
// pieces of a self-contained bundle for a GPU machine that has a driver but
// no Node toolchain (xz-compressed binaries, run.sh's unpacking, a size cap).
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** xz -9 of `src` into `dst` (the fat binaries shrink by more than half; run.sh unpacks them). */
export function xzTo(src, dst) {
  execFileSync('sh', ['-c', `xz -9 -T0 -c "${src}" > "${dst}"`], { stdio: 'inherit' });
}

/** A POSIX sh function for run.sh: `unpack FILE` writes FILE from FILE.xz once (xz, else python3's lzma). */
export const UNPACK_SH = `unpack() { # unpack FILE.xz to FILE once
  [ -f "$1" ] && return 0
  [ -f "$1.xz" ] || return 0
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$1.xz" > "$1.tmp" || exit 1
  elif command -v python3 >/dev/null 2>&1; then
    python3 -c "import lzma,sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())" "$1.xz" > "$1.tmp" || exit 1
  else
    echo "run.sh: need xz or python3 to unpack $1.xz" >&2
    exit 1
  fi
  chmod +x "$1.tmp" && mv "$1.tmp" "$1"
}`;

function size(p) {
  const s = statSync(p);
  return s.isDirectory() ? readdirSync(p).reduce((a, f) => a + size(join(p, f)), 0) : s.size;
}

/** Prints each entry's size and the total; exits 1 when the bundle is over `limitBytes`. */
export function reportSize(out, limitBytes) {
  for (const f of readdirSync(out)) console.log(`  ${f.padEnd(28)} ${(size(join(out, f)) / 2 ** 20).toFixed(2)} MB`);
  const total = size(out);
  console.log(`gpu:bundle: ${out} ${(total / 2 ** 20).toFixed(2)} MB`);
  if (total > limitBytes) {
    console.error(`gpu:bundle: over the ${limitBytes / 2 ** 20} MB limit`);
    process.exit(1);
  }
}
