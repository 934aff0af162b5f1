#!/usr/bin/env bash
# native-tests.sh — build and run the plain-C++ native tests (native/test/*_test.cc) under
# AddressSanitizer + UndefinedBehaviorSanitizer.
#
#   bash scripts/native-tests.sh            # every test
#   bash scripts/native-tests.sh uring tap  # only tests whose file name contains "uring" or "tap"
#
# The plain native sources (native/*.cc except *_wrap.cc and addon.cc, which need napi.h) are
# compiled once into build-asan/libcondis_native.a; each test links against it, so a test only
# pulls in the objects it uses. A source that does not compile is reported (and makes the run
# fail) but does not stop the other tests from building and running.
#
# Environment:
#   CXX               compiler (default g++)
#   NATIVE_SOURCES    space-separated list of library sources, overriding the glob
#                     (e.g. NATIVE_SOURCES="native/errors.cc native/uring.cc")
#   NATIVE_TEST_TIMEOUT  seconds per test binary (default 300)
#   NATIVE_TEST_JOBS  parallel compiles of library sources (default nproc)
#   EXTRA_CXXFLAGS    appended to the compile flags
#
# Output: each binary's summary line, then a combined "N passed, N failed". Exit status is
# non-zero if any test failed, crashed, timed out, or any source/test failed to build.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CXX="${CXX:-g++}"
OUT="build-asan"
OBJ_DIR="$OUT/obj"
BIN_DIR="$OUT/tests"
LIB="$OUT/libcondis_native.a"
TIMEOUT="${NATIVE_TEST_TIMEOUT:-300}"

CXXFLAGS=(-std=c++17 -Wall -Wextra -Wpedantic -Werror
  -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1
  -pthread -Inative)
if [[ -n "${EXTRA_CXXFLAGS:-}" ]]; then
  read -r -a extra <<<"$EXTRA_CXXFLAGS"
  CXXFLAGS+=("${extra[@]}")
fi

mkdir -p "$OBJ_DIR" "$BIN_DIR"

# Two runs at once (several engineers share the tree) would trample each other's objects.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/.lock"
  flock 9
fi

# Objects built with other flags/compiler are stale.
stamp="$CXX ${CXXFLAGS[*]}"
if [[ ! -f "$OUT/flags" || "$(cat "$OUT/flags")" != "$stamp" ]]; then
  rm -f "$OBJ_DIR"/*.o "$OBJ_DIR"/*.d "$LIB"
  printf '%s\n' "$stamp" >"$OUT/flags"
fi

# up_to_date OBJ DEPFILE: true if OBJ exists and is newer than everything in its -MMD depfile.
up_to_date() {
  local obj="$1" dep="$2" f
  [[ -f "$obj" && -f "$dep" ]] || return 1
  for f in $(sed -e 's/\\$//' -e 's/^[^:]*://' "$dep"); do
    [[ -e "$f" && ! "$f" -nt "$obj" ]] || return 1
  done
}

# ---- library sources ---------------------------------------------------------------------------
sources=()
if [[ -n "${NATIVE_SOURCES:-}" ]]; then
  read -r -a sources <<<"$NATIVE_SOURCES"
  echo "native-tests: NATIVE_SOURCES override: ${sources[*]}"
else
  shopt -s nullglob
  for f in native/*.cc; do
    case "$(basename "$f")" in
      *_wrap.cc | addon.cc) continue ;;
    esac
    sources+=("$f")
  done
  shopt -u nullglob
fi

# Compile out-of-date sources in parallel (up to JOBS at a time), then collect the results.
JOBS="${NATIVE_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}"
objs=()
broken_sources=()
pending_srcs=()
pending_pids=()
wait_one() {  # waits for the oldest pending compile and records its outcome
  local src="${pending_srcs[0]}" pid="${pending_pids[0]}" base
  base="$(basename "$src" .cc)"
  pending_srcs=("${pending_srcs[@]:1}")
  pending_pids=("${pending_pids[@]:1}")
  if wait "$pid"; then
    objs+=("$OBJ_DIR/$base.o")
  else
    rm -f "$OBJ_DIR/$base.o" "$OBJ_DIR/$base.d"
    broken_sources+=("$src")
    echo "native-tests: FAILED to compile $src (left out of the library):"
    sed 's/^/    /' "$OBJ_DIR/$base.log" | head -n 40
  fi
}
for src in "${sources[@]}"; do
  base="$(basename "$src" .cc)"
  obj="$OBJ_DIR/$base.o"
  dep="$OBJ_DIR/$base.d"
  if up_to_date "$obj" "$dep"; then
    objs+=("$obj")
    continue
  fi
  echo "native-tests: compile $src"
  "$CXX" "${CXXFLAGS[@]}" -MMD -MP -MF "$dep" -c "$src" -o "$obj" 2>"$OBJ_DIR/$base.log" &
  pending_srcs+=("$src")
  pending_pids+=("$!")
  if ((${#pending_pids[@]} >= JOBS)); then wait_one; fi
done
while ((${#pending_pids[@]} > 0)); do wait_one; done

rm -f "$LIB"
if ((${#objs[@]} > 0)); then
  ar rcs "$LIB" "${objs[@]}"
else
  ar rcs "$LIB"
fi

# ---- tests ---------------------------------------------------------------------------------------
shopt -s nullglob
tests=(native/test/*_test.cc)
shopt -u nullglob
if (($# > 0)); then
  selected=()
  for t in "${tests[@]}"; do
    for pat in "$@"; do
      if [[ "$(basename "$t")" == *"$pat"* ]]; then
        selected+=("$t")
        break
      fi
    done
  done
  tests=("${selected[@]+"${selected[@]}"}")
fi
if ((${#tests[@]} == 0)); then
  echo "native-tests: no tests matched"
  echo "0 passed, 0 failed"
  exit 1
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

total_passed=0
total_failed=0
problems=()
summary_re='^([0-9]+) passed, ([0-9]+) failed$'

for t in "${tests[@]}"; do
  name="$(basename "$t" .cc)"
  bin="$BIN_DIR/$name"
  log="$BIN_DIR/$name.log"
  # Test objects are tiny: always rebuild (the library may have changed under them).
  if ! "$CXX" "${CXXFLAGS[@]}" -Inative/test "$t" "$LIB" -o "$bin" 2>"$BIN_DIR/$name.build.log"; then
    echo "$name: FAILED to build:"
    sed 's/^/    /' "$BIN_DIR/$name.build.log" | head -n 40
    total_failed=$((total_failed + 1))
    problems+=("$name (build)")
    continue
  fi

  rc=0
  timeout --kill-after=10 "$TIMEOUT" "$bin" >"$log" 2>&1 || rc=$?
  last="$(tail -n 1 "$log")"
  if [[ "$last" =~ $summary_re ]]; then
    p="${BASH_REMATCH[1]}"
    f="${BASH_REMATCH[2]}"
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
    echo "$name: $last"
    if ((rc != 0 || f != 0)); then
      grep -E '^(FAIL|    )' "$log" | sed 's/^/  /' || true
      if ((f == 0)); then  # summary says fine but the process did not exit 0 (leak report...)
        total_failed=$((total_failed + 1))
        echo "  exited with status $rc after its summary; see $log"
        tail -n 30 "$log" | sed 's/^/  | /'
      fi
      problems+=("$name")
    fi
  else
    # Crashed (sanitizer report), timed out, or never printed a summary: one failure.
    total_failed=$((total_failed + 1))
    if ((rc == 124 || rc == 137)); then
      echo "$name: TIMED OUT after ${TIMEOUT}s (last output below; full log $log)"
    else
      echo "$name: CRASHED (exit status $rc; last output below; full log $log)"
    fi
    tail -n 40 "$log" | sed 's/^/  | /'
    problems+=("$name")
  fi
done

if ((${#broken_sources[@]} > 0)); then
  echo "native-tests: sources that did not compile: ${broken_sources[*]}"
fi
if ((${#problems[@]} > 0)); then
  echo "native-tests: failing: ${problems[*]}"
fi
echo "$total_passed passed, $total_failed failed"
if ((total_failed > 0 || ${#broken_sources[@]} > 0)); then
  exit 1
fi
