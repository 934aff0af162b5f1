#!/usr/bin/env bash
# build.sh — compile the C reference (cref.c) to ./cref next to this script.
# Needs a C compiler and the kernel's UAPI headers (Debian/Ubuntu: apt-get install -y gcc, which
# brings linux-libc-dev). No liburing: cref uses io_uring through its system calls.
# Idempotent: always recompiles into a temp file and moves it into place.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/cref.c
out=$here/cref
CC=${CC:-cc}

die() { echo "build.sh: $*" >&2; exit 1; }

command -v "$CC" >/dev/null 2>&1 || die "no C compiler '$CC' (apt-get install -y gcc)"
[[ -f $src ]] || die "missing $src"

# Compile next to the target and rename, so a failed build never leaves a half-written binary.
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
"$CC" -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
  -o "$tmp" "$src" -lpthread
mv -f "$tmp" "$out"
echo "build.sh: built $out" >&2
