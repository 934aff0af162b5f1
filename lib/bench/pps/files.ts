/**
 * Where the pps benchmark's helpers live: scripts/bench/pps/ under the package root (cref.c,
 * build.sh, tap-loop.sh, and the cref binary build.sh makes). The package root is the folder
 * holding binding.gyp, found by walking up from here, as lib/native.ts does: lib/bench/pps/../../..
 * from the sources, dist/lib/bench/pps/../../../.. when compiled. The package ships those three
 * files (package.json "files"), so an installed condis finds them too.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '../../..');
    dir = up;
  }
  return dir;
}

export interface PpsFiles {
  dir: string;
  cref: string;
  crefSrc: string;
  buildSh: string;
  tapLoop: string;
}

export function ppsFiles(dir = path.join(packageRoot(), 'scripts', 'bench', 'pps')): PpsFiles {
  return {
    dir,
    cref: path.join(dir, 'cref'),
    crefSrc: path.join(dir, 'cref.c'),
    buildSh: path.join(dir, 'build.sh'),
    tapLoop: path.join(dir, 'tap-loop.sh'),
  };
}

/** Why cref could not be built: a one-line message and, when build.sh said so, the apt package. */
export interface CrefBuildFailure {
  message: string;
  aptPackage: 'gcc' | 'linux-libc-dev' | null;
}

/**
 * Builds cref with build.sh if it is missing or older than cref.c. Returns null when cref is ready,
 * else why not. `env` is for tests (CC=... to simulate a missing compiler).
 */
export function ensureCref(
  files: PpsFiles = ppsFiles(),
  log: (s: string) => void = () => {},
  env: NodeJS.ProcessEnv = process.env,
): CrefBuildFailure | null {
  const haveBin = fs.existsSync(files.cref);
  const haveSrc = fs.existsSync(files.crefSrc);
  if (haveBin && (!haveSrc || fs.statSync(files.cref).mtimeMs >= fs.statSync(files.crefSrc).mtimeMs)) {
    return null;
  }
  if (!haveSrc || !fs.existsSync(files.buildSh)) {
    return {
      message: `the C reference sources are not in ${files.dir} (cref.c, build.sh)`,
      aptPackage: null,
    };
  }
  log('building the C reference (build.sh)');
  try {
    execFileSync('bash', [files.buildSh], { stdio: ['ignore', 'ignore', 'pipe'], env });
    return null;
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message ?? e).trim();
    // build.sh ends with its die() line "no C compiler 'cc' (apt-get install -y gcc)", or the
    // compiler stops at cref.c's #error on kernel headers without the io_uring it uses.
    if (/build\.sh: no C compiler/.test(err)) {
      return {
        message: 'no C compiler (apt package gcc is missing: apt-get install -y gcc)',
        aptPackage: 'gcc',
      };
    }
    if (/linux\/io_uring\.h is older than Linux|linux\/io_uring\.h: No such file/.test(err)) {
      return {
        message:
          'the kernel headers lack io_uring (Linux 5.19+ UAPI headers needed: apt-get install -y linux-libc-dev)',
        aptPackage: 'linux-libc-dev',
      };
    }
    const last =
      err
        .split('\n')
        .filter((l) => l.trim() !== '')
        .pop() ?? 'unknown error';
    return { message: `build.sh failed: ${last}`, aptPackage: null };
  }
}
