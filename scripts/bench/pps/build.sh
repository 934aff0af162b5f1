#!/usr/bin/env bash
# build.sh — compile the C reference (cref.c) to ./cref next to this script.
# Needs a C compiler and liburing (Debian/Ubuntu: apt-get install -y gcc liburing-dev).
# Idempotent: always recompiles into a temp file and moves it into place.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$here/cref.c
out=$here/cref
CC=${CC:-cc}

die() { echo "build.sh: $*" >&2; exit 1; }

command -v "$CC" >/dev/null 2>&1 || die "no C compiler '$CC' (apt-get install -y gcc)"
[[ -f $src ]] || die "missing $src"

# liburing: header + linkable library. Probe with a tiny program so the message is about
# liburing, not a wall of compiler errors.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/p.c" <<'EOF'
#include <liburing.h>
int main(void) { struct io_uring r; return io_uring_queue_init(8, &r, 0) == 0 ? (io_uring_queue_exit(&r), 0) : 1; }
EOF
if ! "$CC" "$probe/p.c" -o "$probe/p" -luring >"$probe/log" 2>&1; then
  cat "$probe/log" >&2
  die "liburing not found: install it with 'apt-get update && apt-get install -y liburing-dev'"
fi

# Compile next to the target and rename, so a failed build never leaves a half-written binary.
tmp=$out.tmp.$$
trap 'rm -rf "$probe" "$tmp"' EXIT
"$CC" -std=c11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
  -o "$tmp" "$src" -luring -lpthread
mv -f "$tmp" "$out"
echo "build.sh: built $out" >&2
