#!/usr/bin/env bash
# fuzz.sh — builds the fuzz targets and runs each for a given time.
#
#   bash scripts/fuzz.sh [options] [seconds] [target...]
#
#   seconds   per target (default 60)
#   target    native (libFuzzer, clang++-14, ASan + UBSan):
#               device_queue   native/fuzz/device_queue.cc: DeviceQueue over hostile rings; region headers
#               rx_parser      native/fuzz/rx_parser.cc: Device::deliver (tag strip/steer, vnet, scatter)
#             TypeScript (fast-check, timed; test/fuzz/*.test.ts, also run briefly by `npm test`):
#               ts-driver-queue   DriverQueue harvest / harvestAndRepost / enableInterrupts vs a hostile device
#               ts-decoders       signalling, ARP / IPv4 / ICMP, the responder's and pinger's parsers, region headers
#             default: all of them
#   --merge     after each native run, fold what the run found into native/fuzz/corpus/<target>/:
#               the seed-* files stay, the others are replaced by a libFuzzer -merge=1 minimisation
#               (only inputs that add coverage beyond the seeds)
#   --coverage  after each native run, build a source-coverage binary and print the line and
#               branch coverage its corpus reaches in the code under test (llvm-cov-14)
#
# Each native run works on a scratch copy of its committed corpus (build-fuzz/work/<target>/), so
# the committed one stays small. A crash, leak, sanitizer report or model mismatch stops that
# target; its input is kept in build-fuzz/artifacts/<target>/ and the script exits 1 at the end.
# Runs one target at a time under `nice -n 10` (the machine is shared).
#
# Output: libFuzzer's log goes to build-fuzz/logs/<target>.log; per target one line:
#   <target>: <seconds>s, <execs> execs (<exec/s>/s), cov <n> ft <n>, corpus <files> files / <bytes> B: ok|CRASH ...
#
# Environment: CXX_FUZZ (default clang++-14), LLVM_COV / LLVM_PROFDATA (default llvm-cov-14 /
# llvm-profdata-14), FUZZ_MAX_LEN (default 8192).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CXX_FUZZ="${CXX_FUZZ:-clang++-14}"
LLVM_COV="${LLVM_COV:-llvm-cov-14}"
LLVM_PROFDATA="${LLVM_PROFDATA:-llvm-profdata-14}"
MAX_LEN="${FUZZ_MAX_LEN:-8192}"
OUT="build-fuzz"

merge=0
coverage=0
seconds=60
targets=()
for a in "$@"; do
  case "$a" in
    --merge) merge=1 ;;
    --coverage) coverage=1 ;;
    -h | --help)
      sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *[!0-9]*) targets+=("$a") ;;
    *) seconds="$a" ;;
  esac
done
all_targets=(device_queue rx_parser ts-driver-queue ts-decoders)
((${#targets[@]})) || targets=("${all_targets[@]}")

# Sources each native target links (besides native/fuzz/<target>.cc), and the functions of the
# code under test whose coverage --coverage reports.
native_sources() {
  case "$1" in
    device_queue) echo "native/virtq.cc" ;;
    rx_parser) echo "native/io_loop.cc native/device.cc native/virtq.cc native/tap.cc native/tap_rx.cc native/uring.cc native/errors.cc" ;;
    *) return 1 ;;
  esac
}
coverage_scope() {  # file [function regex]
  case "$1" in
    device_queue) echo "native/virtq.cc" ;;
    rx_parser) echo "native/io_loop.cc deliver|gather|scatter_frame|write_chain|publish_rx_locked" ;;
  esac
}

CXXFLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -pthread -Inative)
SAN=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=64:detect_leaks=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

mkdir -p "$OUT/logs" "$OUT/work" "$OUT/artifacts"
failed=()
summary=()

run_native() {
  local t="$1" bin="$OUT/$1" srcs log work art corpus="native/fuzz/corpus/$1"
  read -r -a srcs <<<"$(native_sources "$t")"
  if ! command -v "$CXX_FUZZ" >/dev/null 2>&1; then
    echo "fuzz.sh: $CXX_FUZZ not found (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 2
  fi
  echo "==> $t: build"
  nice -n 10 "$CXX_FUZZ" "${CXXFLAGS[@]}" "${SAN[@]}" "native/fuzz/$t.cc" "${srcs[@]}" -o "$bin"
  work="$OUT/work/$t"
  art="$OUT/artifacts/$t"
  log="$OUT/logs/$t.log"
  rm -rf "$work"
  mkdir -p "$work" "$art"
  cp "$corpus"/* "$work"/
  echo "==> $t: ${seconds}s on a copy of $corpus ($(ls "$corpus" | wc -l) files)"
  local rc=0
  nice -n 10 "$bin" -max_total_time="$seconds" -max_len="$MAX_LEN" -timeout=20 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art/" "$work" >"$log" 2>&1 || rc=$?
  local execs rate status cov ft files bytes verdict
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  status="$(grep -E '^#[0-9]+' "$log" | grep -E ' cov: ' | tail -n 1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")"
  files="$(find "$work" -type f | wc -l)"
  bytes="$(find "$work" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')"
  if ((rc == 0)); then
    verdict="ok"
  else
    verdict="CRASH (exit $rc): $(grep -E '^(==[0-9]+==ERROR|SUMMARY|[a-z_]+: op |rx_parser: |device_queue: )' "$log" | head -n 3 | tr '\n' ' ')"
    verdict+=" input: $(ls -t "$art" | head -n 1 | sed "s|^|$art/|") log: $log"
    failed+=("$t")
  fi
  local line="$t: ${seconds}s, ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?} ft ${ft:-?}, corpus $files files / $bytes B: $verdict"
  echo "$line"
  summary+=("$line")

  if ((merge)) && ((rc == 0)); then
    local m="$OUT/work/$t.merged"
    rm -rf "$m"
    mkdir -p "$m"
    cp "$corpus"/seed-* "$m"/
    nice -n 10 "$bin" -merge=1 -max_len="$MAX_LEN" "$m" "$work" >"$OUT/logs/$t.merge.log" 2>&1
    find "$corpus" -type f ! -name 'seed-*' -delete
    find "$m" -type f ! -name 'seed-*' -exec cp {} "$corpus"/ \;
    echo "$t: merged: $corpus now $(ls "$corpus" | wc -l) files, $(du -sb "$corpus" | cut -f1) B"
  fi

  if ((coverage)); then
    local cbin="$OUT/$t.cov" file fnre
    read -r file fnre <<<"$(coverage_scope "$t")"
    nice -n 10 "$CXX_FUZZ" -std=c++17 -g -O1 -pthread -Inative -fsanitize=fuzzer \
      -fprofile-instr-generate -fcoverage-mapping "native/fuzz/$t.cc" "${srcs[@]}" -o "$cbin"
    rm -f "$OUT/work/$t.profraw"
    LLVM_PROFILE_FILE="$OUT/work/$t.profraw" nice -n 10 "$cbin" -runs=0 -max_len="$MAX_LEN" "$work" >/dev/null 2>&1 || true
    "$LLVM_PROFDATA" merge -sparse "$OUT/work/$t.profraw" -o "$OUT/work/$t.profdata"
    echo "$t: coverage of $file${fnre:+ ($fnre)} by its corpus:"
    if [[ -n "$fnre" ]]; then
      "$LLVM_COV" report "$cbin" -instr-profile="$OUT/work/$t.profdata" -show-functions -Xdemangler=c++filt "$file" |
        grep -E "^Name|$fnre" | sed 's/^/  /'
    else
      "$LLVM_COV" report "$cbin" -instr-profile="$OUT/work/$t.profdata" "$file" | sed 's/^/  /'
    fi
  fi
}

run_ts() {
  local t="$1" file log rc=0
  case "$t" in
    ts-driver-queue) file="test/fuzz/driver-queue-harvest.test.ts" ;;
    ts-decoders) file="test/fuzz/decoders.test.ts" ;;
  esac
  log="$OUT/logs/$t.log"
  echo "==> $t: ${seconds}s per property ($file)"
  CONDIS_FUZZ_SECONDS="$seconds" nice -n 10 npx vitest run "$file" >"$log" 2>&1 || rc=$?
  local runs
  runs="$(grep -E '^fuzz: ' "$log" | sed 's/^fuzz: /  /' || true)"
  [[ -n "$runs" ]] && echo "$runs"
  if ((rc == 0)); then
    summary+=("$t: ${seconds}s per property: ok ($(grep -cE '^fuzz: ' "$log") properties)")
  else
    summary+=("$t: FAILED (exit $rc; the counterexample and its seed are in $log)")
    failed+=("$t")
  fi
  echo "${summary[-1]}"
}

for t in "${targets[@]}"; do
  case "$t" in
    device_queue | rx_parser) run_native "$t" ;;
    ts-driver-queue | ts-decoders) run_ts "$t" ;;
    *)
      echo "fuzz.sh: no target '$t' (targets: ${all_targets[*]})" >&2
      exit 2
      ;;
  esac
done

echo
echo "==> summary"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz.sh: failing: ${failed[*]}"
  exit 1
fi
