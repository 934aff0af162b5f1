#!/usr/bin/env bash
# cross-arm64.sh — cross-compiles the addon for linux-arm64 (aarch64) with Debian's cross
# toolchain, and checks what came out. It proves the native code builds for arm64 as it is
# (no -march, no x86 intrinsic: native/cpu_relax.h); it does not run the result (CI has no arm64).
#
#   apt-get install crossbuild-essential-arm64     # aarch64-linux-gnu-gcc/g++ and the arm64 libc
#   bash scripts/cross-arm64.sh                    # -> build-arm64/build/Release/condis.node
#
# node-gyp builds binding.gyp as `npm ci` does, with --arch=arm64 and the cross compilers, in a
# staging copy (build-arm64/: binding.gyp + native/, node_modules linked): the native build/ of
# this tree is never touched. Then it checks:
#   1. `file`: an ELF 64-bit LSB shared object for ARM aarch64;
#   2. `readelf -h`: machine AArch64;
#   3. `objdump -T`: no GLIBC_x.y symbol version newer than the build host's glibc (the addon then
#      loads on an arm64 machine of the same Debian release or newer), and no undefined napi_*
#      symbol outside Node-API (they are resolved by node at load time).
#
# Then, if qemu-user is installed (Debian qemu-user; optional, CI does not install it), it builds
# the plain C++ tests for arm64 (-Wpedantic -Werror, as scripts/native-tests.sh, without the
# sanitizers) and runs those that need neither io_uring nor a TAP under qemu-aarch64: ether, virtq,
# rx_deliver, device (the wire), device_failure. qemu-user has no io_uring (ENOSYS) and the TAP
# tests need the host's ioctls, so uring_test and tap_test are left out. An emulator on an x86
# host is not a weakly ordered CPU: this shows the code runs on arm64, not that its ordering holds
# on real arm64 hardware (the ORDERING comments and atomics are what make that so).
#
# Environment:
#   NODEDIR   Node headers (include/node/node_api.h, common.gypi). Default: npm_config_nodedir,
#             else the prefix of the running node (/usr for Debian's nodejs), else node-gyp's cache.
#   CROSS     toolchain prefix (default aarch64-linux-gnu-)
#   JOBS      parallel compiles (default nproc)
#   QEMU      the user-mode emulator for the tests (default qemu-aarch64; QEMU=none skips them)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
OUT="$ROOT/build-arm64"
CROSS="${CROSS:-aarch64-linux-gnu-}"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

step() { printf '\n==> %s\n' "$*"; }
fail() {
  printf '\ncross-arm64: FAILED: %s\n' "$*" >&2
  exit 1
}

for tool in "${CROSS}gcc" "${CROSS}g++"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "cross-arm64: '$tool' not found: install Debian's crossbuild-essential-arm64" >&2
    exit 2
  fi
done
for tool in node file readelf objdump; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' not found on PATH"
done
[[ -f node_modules/node-gyp/bin/node-gyp.js ]] || fail "node_modules/node-gyp missing (run npm ci)"
[[ -d node_modules/node-addon-api ]] || fail "node_modules/node-addon-api missing (run npm ci)"

# ---- Node headers, offline ------------------------------------------------------------------------
# shellcheck source=scripts/node-headers.sh
source "$ROOT/scripts/node-headers.sh"
echo "cross-arm64: Node $node_version headers from $NODEDIR; compilers ${CROSS}gcc / ${CROSS}g++ ($("${CROSS}g++" -dumpversion))"

# ---- staging copy -------------------------------------------------------------------------------
step "1. stage binding.gyp + native/ in ${OUT#"$ROOT"/}"
rm -rf "$OUT"
mkdir -p "$OUT/native"
cp binding.gyp "$OUT/"
cp native/*.cc native/*.h "$OUT/native/"
# binding.gyp asks node for node-addon-api's include dir (a path relative to the project).
ln -s "$ROOT/node_modules" "$OUT/node_modules"

# ---- build ----------------------------------------------------------------------------------------
step "2. node-gyp rebuild --arch=arm64 (CC=${CROSS}gcc CXX=${CROSS}g++)"
(
  cd "$OUT"
  # CC/CXX/LINK/AR name the target toolchain; the *_host ones stay native (gyp's host tools).
  CC="${CROSS}gcc" CXX="${CROSS}g++" LINK="${CROSS}g++" AR="${CROSS}ar" \
    CC_host=gcc CXX_host=g++ LINK_host=g++ AR_host=ar \
    node "$ROOT/node_modules/node-gyp/bin/node-gyp.js" rebuild --arch=arm64 --nodedir="$NODEDIR" \
    --jobs="$JOBS" --loglevel=warn
) || fail "node-gyp rebuild --arch=arm64"
ADDON="$OUT/build/Release/condis.node"
[[ -f "$ADDON" ]] || fail "${ADDON#"$ROOT"/} was not produced"

# ---- checks ---------------------------------------------------------------------------------------
step "3. check ${ADDON#"$ROOT"/}"
desc="$(file -b "$ADDON")"
echo "file: $desc"
[[ "$desc" == *"ELF 64-bit LSB shared object"*"ARM aarch64"* ]] || fail "not an ELF 64-bit aarch64 shared object: $desc"
machine="$(readelf -h "$ADDON" | sed -n 's/^ *Machine: *//p')"
[[ "$machine" == "AArch64" ]] || fail "readelf: machine is '$machine', not AArch64"

# The newest GLIBC_x.y version the addon asks for must not be newer than this host's glibc.
host_glibc="$(getconf GNU_LIBC_VERSION | awk '{print $2}')"
needed="$(objdump -T "$ADDON" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -u -V)"
newest="$(tail -n 1 <<<"$needed")"
echo "glibc versions needed: $(tr '\n' ' ' <<<"$needed")(newest $newest; host $host_glibc)"
if [[ -n "$newest" && "$(printf '%s\n%s\n' "$newest" "$host_glibc" | sort -V | tail -n 1)" != "$host_glibc" ]]; then
  fail "needs GLIBC_$newest, newer than the host's $host_glibc"
fi
# Undefined symbols are versioned libc/libstdc++/libgcc ones, Node-API's (node provides them at
# load time), or the weak hooks every shared object names.
odd="$(objdump -T "$ADDON" | grep -F '*UND*' | grep -v -E '\((GLIBC|GLIBCXX|CXXABI|GCC)_[0-9.]+\)' |
  awk '{print $NF}' | grep -v -E '^(napi_|node_api_|_ITM_|__gmon_start__$)' || true)"
[[ -z "$odd" ]] || fail "undefined symbols that neither libc/libstdc++ nor Node-API provide: $(tr '\n' ' ' <<<"$odd")"

# ---- the plain C++ tests under qemu-user (optional) --------------------------------------------
QEMU="${QEMU:-qemu-aarch64}"
ran="not run: $QEMU not found (Debian qemu-user)"
if [[ "$QEMU" != none ]] && command -v "$QEMU" >/dev/null 2>&1; then
  step "4. plain C++ tests built for arm64, run under $QEMU"
  T="$OUT/tests"
  mkdir -p "$T"
  CXXFLAGS=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -O2 -g -pthread -I"$ROOT/native")
  objs=()
  for src in native/*.cc; do
    case "$(basename "$src")" in *_wrap.cc | addon.cc) continue ;; esac
    obj="$T/$(basename "$src" .cc).o"
    "${CROSS}g++" "${CXXFLAGS[@]}" -c "$src" -o "$obj" || fail "${CROSS}g++ $src"
    objs+=("$obj")
  done
  "${CROSS}ar" rcs "$T/libcondis_native.a" "${objs[@]}"
  # The sysroot of Debian's cross libc, for the emulator's dynamic loader.
  export QEMU_LD_PREFIX="${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}"
  for name in ether_test virtq_test rx_deliver_test device_test device_failure_test; do
    "${CROSS}g++" "${CXXFLAGS[@]}" -I"$ROOT/native/test" "native/test/$name.cc" "$T/libcondis_native.a" \
      -o "$T/$name" || fail "${CROSS}g++ native/test/$name.cc"
    rc=0
    timeout --kill-after=10 300 "$QEMU" "$T/$name" >"$T/$name.log" 2>&1 || rc=$?
    last="$(tail -n 1 "$T/$name.log")"
    echo "$name (arm64, $QEMU): $last"
    [[ $rc -eq 0 && "$last" =~ ^[0-9]+\ passed,\ 0\ failed$ ]] ||
      fail "$name under $QEMU (exit $rc; log ${T#"$ROOT"/}/$name.log)"
  done
  ran="plain C++ tests pass under $QEMU"
fi

printf '\ncross-arm64: OK — %s: %s, glibc <= %s; %s\n' "${ADDON#"$ROOT"/}" "$machine" "$host_glibc" "$ran"
