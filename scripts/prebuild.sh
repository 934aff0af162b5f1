#!/usr/bin/env bash
# prebuild.sh — the prebuilt addons the npm tarball ships (run by `npm pack` / `npm publish` through
# the "prepack" script; never committed: prebuilds/ is in .gitignore). Beside the layer picture:
# it packages native/ (the device) for consumers, so `npm i condis-tap` on linux-x64 or
# linux-arm64 compiles nothing — node-gyp-build (lib/native.ts) loads prebuilds/<platform>-<arch>/
# before build/.
#
#   bash scripts/prebuild.sh        # -> prebuilds/linux-x64/condis-tap.node, prebuilds/linux-arm64/...
#
# Both are `prebuildify --napi --strip` (one Node-API build serves every Node >= 20). arm64 is
# cross-compiled with Debian's crossbuild-essential-arm64 (aarch64-linux-gnu-gcc/g++, and its
# strip: the host's `strip` does not understand an aarch64 ELF), as scripts/cross-arm64.sh does.
# Each build runs in a staging copy (binding.gyp + native/ + package.json, node_modules linked) in
# a temp dir, because prebuildify runs `node-gyp rebuild` in its cwd: building in the tree would
# replace the developer's build/Release/condis.node with an arm64 one. Then
# scripts/check-prebuilds.sh checks each (machine, glibc versions).
#
# Environment: NODEDIR (Node headers; found as cross-arm64.sh finds them), CROSS (default
# aarch64-linux-gnu-), PREBUILD_ARCHS (default "x64 arm64").
set -euo pipefail
# Everything to stderr: `npm pack --json` prints its JSON on stdout after this ran as "prepack".
exec 1>&2
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
CROSS="${CROSS:-aarch64-linux-gnu-}"
ARCHS="${PREBUILD_ARCHS:-x64 arm64}"

fail() {
  printf 'prebuild: FAILED: %s\n' "$*" >&2
  exit 1
}
[[ -f node_modules/prebuildify/bin.js ]] || fail "node_modules/prebuildify missing (run npm ci)"
[[ -d node_modules/node-addon-api ]] || fail "node_modules/node-addon-api missing (run npm ci)"

# Node headers, offline: prebuildify would otherwise have node-gyp download them.
# shellcheck source=scripts/node-headers.sh
source "$ROOT/scripts/node-headers.sh"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/condis-prebuild.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
rm -rf prebuilds
mkdir -p prebuilds

for arch in $ARCHS; do
  dir="$STAGE/$arch"
  mkdir -p "$dir/native"
  cp binding.gyp package.json "$dir/"
  cp native/*.cc native/*.h "$dir/native/"
  ln -s "$ROOT/node_modules" "$dir/node_modules"
  env=(npm_config_nodedir="$NODEDIR")
  args=(--napi --strip --arch "$arch")
  if [[ "$arch" == arm64 && "$(uname -m)" != aarch64 ]]; then
    for tool in "${CROSS}gcc" "${CROSS}g++" "${CROSS}strip"; do
      command -v "$tool" >/dev/null 2>&1 || {
        echo "prebuild: '$tool' not found: install Debian's crossbuild-essential-arm64" >&2
        exit 2
      }
    done
    # CC/CXX/LINK/AR name the target toolchain; the *_host ones stay native (gyp's host tools).
    env+=(CC="${CROSS}gcc" CXX="${CROSS}g++" LINK="${CROSS}g++" AR="${CROSS}ar"
      CC_host=gcc CXX_host=g++ LINK_host=g++ AR_host=ar)
    args+=(--strip-bin "${CROSS}strip")
  fi
  printf '\n==> prebuildify %s (%s)\n' "${args[*]}" "$arch"
  (cd "$dir" && env "${env[@]}" node "$ROOT/node_modules/prebuildify/bin.js" "${args[@]}") ||
    fail "prebuildify --arch $arch"
  cp -r "$dir/prebuilds/." prebuilds/
done

bash scripts/check-prebuilds.sh
