#!/usr/bin/env bash
# build-cmake.sh — the CMake (cmake-js) build of the addon, a load check, and the plain-C++ tests
# via ctest. CMakeLists.txt mirrors binding.gyp (it reads binding.gyp's "sources" list).
#
#   bash scripts/build-cmake.sh
#   CONDIS_SANITIZE=ON bash scripts/build-cmake.sh   # tests + their library under ASan/UBSan
#
# Steps (any failure stops the script with a non-zero status):
#   1. npx cmake-js compile --out build-cmake        -> build-cmake/Release/condis.node
#   2. load it with node and call layout(256, 4)
#   3. cmake -S . -B build-cmake-tests (plain cmake, no cmake-js: the addon target is skipped),
#      cmake --build, ctest --output-on-failure
#
# Environment:
#   CONDIS_SANITIZE   ON/OFF (default OFF): -fsanitize=address,undefined for the tests
#   JOBS              parallel build jobs (default: nproc)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"
SANITIZE="${CONDIS_SANITIZE:-OFF}"
ADDON_DIR="build-cmake"
ADDON="$ADDON_DIR/Release/condis.node"
TESTS_DIR="build-cmake-tests"

step() { printf '\n==> %s\n' "$*"; }
fail() {
  printf '\nbuild-cmake: FAILED: %s\n' "$*" >&2
  exit 1
}

for tool in node npx cmake ctest; do
  command -v "$tool" >/dev/null 2>&1 || fail "'$tool' not found on PATH"
done
[[ -x node_modules/.bin/cmake-js ]] || fail "node_modules/.bin/cmake-js missing (run npm install)"

# ---- 1. the addon via cmake-js -------------------------------------------------------------------
step "1/3 addon: npx cmake-js compile --out $ADDON_DIR"
npx cmake-js compile --out "$ADDON_DIR" --parallel "$JOBS" || fail "cmake-js compile"
[[ -f "$ADDON" ]] || fail "$ADDON was not produced"
echo "build-cmake: built $ADDON ($(stat -c %s "$ADDON") bytes)"

# ---- 2. load check --------------------------------------------------------------------------------
step "2/3 load: require('./$ADDON').layout(256,4)"
node -e "
const m = require('./$ADDON');
const l = m.layout(256, 4);
if (!l || typeof l !== 'object') throw new Error('layout(256,4) returned ' + l);
console.log('build-cmake: loaded; exports: ' + Object.keys(m).join(', ') + '; abiVersion=' + m.abiVersion);
" || fail "loading $ADDON"

# ---- 3. plain C++ tests via cmake + ctest ---------------------------------------------------------
step "3/3 tests: cmake -S . -B $TESTS_DIR -DCONDIS_SANITIZE=$SANITIZE; build; ctest"
cmake -S . -B "$TESTS_DIR" -DCONDIS_SANITIZE="$SANITIZE" || fail "cmake configure ($TESTS_DIR)"
cmake --build "$TESTS_DIR" --parallel "$JOBS" || fail "cmake build ($TESTS_DIR)"
ctest --test-dir "$TESTS_DIR" --output-on-failure --no-tests=error || fail "ctest ($TESTS_DIR)"

printf '\nbuild-cmake: OK — %s loads, plain C++ tests pass (CONDIS_SANITIZE=%s)\n' "$ADDON" "$SANITIZE"
