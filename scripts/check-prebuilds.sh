#!/usr/bin/env bash
# check-prebuilds.sh — checks the prebuilt addons in prebuilds/ (made by scripts/prebuild.sh) before
# they go into the tarball: each is an ELF shared object for its folder's machine (`file` and
# `readelf -h`), and asks for no GLIBC_x.y symbol version newer than the build host's glibc
# (`ldd --version`), so it loads on a machine of the same Debian release or newer.
# Beside the layer picture (packaging of native/). Run by prebuild.sh and by
# test/package/packed-install.test.ts.
#
#   bash scripts/check-prebuilds.sh [dir]      # default prebuilds/; exit 1 on the first failure
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DIR="${1:-prebuilds}"
fail() {
  printf 'check-prebuilds: FAILED: %s\n' "$*" >&2
  exit 1
}
for tool in file readelf ldd; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' not found on PATH"
done
# awk reads all of ldd's output (head would close the pipe: SIGPIPE under pipefail).
host_glibc="$(ldd --version | awk 'NR == 1 { print $NF }')"
[[ -n "$host_glibc" ]] || fail "cannot read the host's glibc version from 'ldd --version'"

shopt -s nullglob
count=0
for folder in "$DIR"/*/; do
  platform_arch="$(basename "$folder")"
  case "$platform_arch" in
  linux-x64) want_file="x86-64" want_machine="Advanced Micro Devices X86-64" ;;
  linux-arm64) want_file="ARM aarch64" want_machine="AArch64" ;;
  *) fail "unexpected folder $folder (only linux-x64 and linux-arm64 are built)" ;;
  esac
  nodes=("$folder"*.node)
  ((${#nodes[@]})) || fail "no .node file in $folder"
  for addon in "${nodes[@]}"; do
    desc="$(file -b "$addon")"
    [[ "$desc" == *"ELF 64-bit LSB shared object"*"$want_file"* ]] || fail "$addon: file says: $desc"
    [[ "$desc" == *"stripped"* && "$desc" != *"not stripped"* ]] || fail "$addon is not stripped: $desc"
    machine="$(readelf -h "$addon" | sed -n 's/^ *Machine: *//p')"
    [[ "$machine" == "$want_machine" ]] || fail "$addon: readelf machine '$machine', want '$want_machine'"
    needed="$(readelf -W -V "$addon" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -u -V)"
    newest="$(tail -n 1 <<<"$needed")"
    if [[ -n "$newest" && "$(printf '%s\n%s\n' "$newest" "$host_glibc" | sort -V | tail -n 1)" != "$host_glibc" ]]; then
      fail "$addon needs GLIBC_$newest, newer than the build host's $host_glibc"
    fi
    echo "check-prebuilds: $addon: $machine, stripped, glibc <= ${newest:-none} (host $host_glibc)"
    count=$((count + 1))
  done
done
((count)) || fail "no prebuilt addon under $DIR/"
echo "check-prebuilds: OK ($count)"
