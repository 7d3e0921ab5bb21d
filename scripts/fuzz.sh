#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/, clang 14 with AddressSanitizer and
# UndefinedBehaviorSanitizer), in their own build folder.
#
#   scripts/fuzz.sh build             configure and build build-fuzz/ (holds the build lock)
#   scripts/fuzz.sh replay [T...]     run every target once over its seed corpus (CI)
#   scripts/fuzz.sh short [T...]      fuzz each target briefly (about 10 s) with a fixed seed
#                                     and a fixed count, so CI gives the same answer for the
#                                     same commit; FUZZ_SEED and FUZZ_SHORT_SCALE change them
#   scripts/fuzz.sh long N [T...]     fuzz each target for N executions, one after the
#                                     other, niced; appends to build-fuzz/long/summary.md
#                                     (FUZZ_MAX_SECONDS=S caps each target's time)
#   scripts/fuzz.sh list              the target names
#
# Targets are named without the fuzz_ prefix (oip_json, http_request, ...). Seeds live
# in tests/fuzz/corpus/<target>/ and are only read: inputs found while fuzzing go to
# build-fuzz/corpus/<target>/, crashes to build-fuzz/artifacts/. To reproduce one:
#   build-fuzz/fuzz_<target> build-fuzz/artifacts/<target>-crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SEEDS=tests/fuzz/corpus
DICTS=tests/fuzz/dict
ALL_TARGETS=(oip_json oip_binary grpc_tensors spec_json spec_yaml onnx_signature names http_request)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if command -v llvm-symbolizer-14 >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-14)}
elif [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}
fi

# Per-target options: the largest input worth trying (the seeds are smaller) and a
# dictionary when there is one.
target_options() {
  local t=$1 max_len=8192
  case $t in
    names) max_len=512 ;;
    onnx_signature | http_request | oip_binary) max_len=16384 ;;
  esac
  local opts=(-max_len=$max_len -timeout=20 -rss_limit_mb=2048 -print_final_stats=1)
  [ -f "$DICTS/$t.dict" ] && opts+=(-dict="$DICTS/$t.dict")
  echo "${opts[@]}"
}

targets_from_args() {
  if [ $# -eq 0 ]; then echo "${ALL_TARGETS[@]}"; else echo "$@"; fi
}

require_built() {
  for t in "$@"; do
    [ -x "$BUILD/fuzz_$t" ] || { echo "fuzz: $BUILD/fuzz_$t is missing; run scripts/fuzz.sh build" >&2; exit 2; }
  done
}

cmd_build() {
  local cxx=${FUZZ_CXX:-clang++-14}
  command -v "$cxx" >/dev/null || { echo "fuzz: $cxx not found (scripts/install-deps.sh installs clang)" >&2; exit 2; }
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
  local start=$SECONDS
  # Shares the lock of the main builds: two compilers on 2 cores starve everyone.
  cmake -S tests/fuzz -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  flock /tmp/quiver-build.lock cmake --build "$BUILD" -j "${FUZZ_BUILD_JOBS:-2}"
  echo "fuzz: built ${#ALL_TARGETS[@]} targets in $((SECONDS - start)) s"
}

cmd_replay() {
  local targets=($(targets_from_args "$@")) failed=0
  require_built "${targets[@]}"
  mkdir -p "$BUILD/artifacts"
  for t in "${targets[@]}"; do
    local n; n=$(find "$SEEDS/$t" -type f | wc -l)
    # -runs=0: load (run) every corpus input once, fuzz nothing.
    if "$BUILD/fuzz_$t" $(target_options "$t") -runs=0 -artifact_prefix="$BUILD/artifacts/$t-" \
         "$SEEDS/$t" >"$BUILD/replay-$t.log" 2>&1; then
      echo "fuzz replay: $t: $n inputs ok"
    else
      echo "fuzz replay: $t FAILED (log: $BUILD/replay-$t.log)"; tail -n 40 "$BUILD/replay-$t.log"; failed=1
    fi
  done
  return $failed
}

# Executions per target for `short`: about 10 s each on this 2-core machine. A count,
# not a time, so that a run is reproducible: the same commit and seed mutate the same way.
short_runs() {
  local n
  case $1 in
    oip_json | oip_binary | grpc_tensors | onnx_signature) n=300000 ;;
    names) n=100000 ;;
    spec_json | http_request) n=40000 ;;
    spec_yaml) n=15000 ;;
    *) n=20000 ;;
  esac
  echo $((n * ${FUZZ_SHORT_SCALE:-100} / 100))
}

cmd_short() {
  local targets=($(targets_from_args "$@")) failed=0 seed=${FUZZ_SEED:-1}
  require_built "${targets[@]}"
  mkdir -p "$BUILD/artifacts"
  for t in "${targets[@]}"; do
    # A fresh corpus folder each time: what an earlier run found would change the path.
    rm -rf "$BUILD/corpus-short/$t"; mkdir -p "$BUILD/corpus-short/$t"
    local runs; runs=$(short_runs "$t") start=$SECONDS
    if "$BUILD/fuzz_$t" $(target_options "$t") -seed="$seed" -runs="$runs" -max_total_time=120 \
         -artifact_prefix="$BUILD/artifacts/$t-" "$BUILD/corpus-short/$t" "$SEEDS/$t" >"$BUILD/short-$t.log" 2>&1; then
      echo "fuzz short: $t: $(stat_of number_of_executed_units "$BUILD/short-$t.log") executions (seed $seed) in $((SECONDS - start)) s, no finding"
    else
      echo "fuzz short: $t FAILED (log: $BUILD/short-$t.log; reproduce: scripts/fuzz.sh short $t with FUZZ_SEED=$seed)"
      tail -n 60 "$BUILD/short-$t.log"; failed=1
    fi
  done
  return $failed
}

stat_of() { grep -oE "stat::$1: +[0-9]+" "$2" | tail -n1 | awk '{print $2}'; }

cmd_long() {
  local runs=${1:?usage: fuzz.sh long N [target...]}; shift
  local targets=($(targets_from_args "$@")) failed=0
  require_built "${targets[@]}"
  local out="$BUILD/long"
  mkdir -p "$out" "$BUILD/artifacts"
  local summary="$out/summary.md" cap=()
  # FUZZ_MAX_SECONDS caps each target's time; the summary then shows how far it got.
  [ -n "${FUZZ_MAX_SECONDS:-}" ] && cap=(-max_total_time="$FUZZ_MAX_SECONDS")
  # The classic power schedule (-entropic=0) runs 3-5x more executions per second than
  # the entropic one on the targets with a large coverage map (specs, HTTP, names).
  # libFuzzer's timeout is wall time, and a niced fuzzer on a machine busy with builds
  # can wait 20 s for a core on a unit that takes 0.3 s: the long run allows 120 s
  # (a real hang still shows). FUZZ_LONG_OPTS replaces both.
  local extra=(${FUZZ_LONG_OPTS--entropic=0 -timeout=120})
  {
    echo
    echo "Command: ${FUZZ_MAX_SECONDS:+FUZZ_MAX_SECONDS=$FUZZ_MAX_SECONDS }scripts/fuzz.sh long $runs ${*:-} (options: $(target_options x | sed 's/-max_len=[0-9]* //') ${extra[*]})"
    echo "Started: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, clang $(${FUZZ_CXX:-clang++-14} -dumpversion)"
    echo
    echo "| target | executions | exec/s | wall time | peak RSS MB | corpus | result |"
    echo "|---|---:|---:|---:|---:|---:|---|"
  } >>"$summary"
  for t in "${targets[@]}"; do
    mkdir -p "$BUILD/corpus/$t"
    local log="$out/$t.log" start=$SECONDS result
    if nice -n 19 "$BUILD/fuzz_$t" $(target_options "$t") "${extra[@]}" -runs="$runs" "${cap[@]}" -artifact_prefix="$BUILD/artifacts/$t-" \
         "$BUILD/corpus/$t" "$SEEDS/$t" >"$log" 2>&1; then
      result="no crash, leak or timeout"
    elif grep -q "libFuzzer: run interrupted" "$log" && ! grep -q "ERROR:" "$log"; then
      # Stopped by a signal (SIGINT) with no finding: a session's share of a run that
      # continues later on the same corpus.
      result="interrupted, no crash, leak or timeout"
    else
      # The finding's own line, not a mutation log line that happens to hold "timeout".
      result="FAILED: $(grep -m1 -oE 'invariant failed.*|ERROR: [A-Za-z]+: [a-z-]+|ALARM: working on the last Unit for [0-9]+ seconds|out-of-memory \(used: [0-9]+Mb' "$log" || echo "exit status $?")"
      failed=1
    fi
    local secs=$((SECONDS - start))
    printf '| %s | %s | %s | %dm%02ds | %s | %s | %s |\n' "$t" "$(stat_of number_of_executed_units "$log")" \
      "$(stat_of average_exec_per_sec "$log")" $((secs / 60)) $((secs % 60)) "$(stat_of peak_rss_mb "$log")" \
      "$(find "$BUILD/corpus/$t" -type f | wc -l)" "$result" >>"$summary"
    tail -n1 "$summary"
  done
  echo "Finished: $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$summary"
  return $failed
}

case ${1:-} in
  build) shift; cmd_build "$@" ;;
  replay) shift; cmd_replay "$@" ;;
  short) shift; cmd_short "$@" ;;
  long) shift; cmd_long "$@" ;;
  list) echo "${ALL_TARGETS[@]}" ;;
  *) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
