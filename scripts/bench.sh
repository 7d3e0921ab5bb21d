#!/usr/bin/env bash
# Builds the server and every benchmark, runs the whole suite and rewrites
# docs/benchmarks.md with the numbers and the exact commands of this run.
# Sections a-h come from bench/run_benchmarks.py (extra arguments go to it, e.g.
# --duration 4, --only ab); i (on-demand loading at scale, bench/on_demand_benchmark.py;
# ON_DEMAND_ARGS, e.g. "--listing 10000", shrinks it), j (the console's cost,
# bench/console_overhead.py), k (the console's charts, bench/console_charts50.mjs) and
# l (replicas, bench/scale_out_benchmark.py) replace their own sections afterwards.
# BUILD_DIR (default: build) picks the build directory. SKIP_SCALE=1 skips i to l.
# The whole run takes about 35 minutes once built, most of it registering 100,000
# versions in i; a to h alone about 10.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DQUIVER_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" --target quiver routing_bench json_codec_bench raw_forward_bench version_count_bench
/usr/bin/python3 bench/run_benchmarks.py --build-dir "$BUILD_DIR" --out docs/benchmarks.md "$@"
if [ -z "${SKIP_SCALE:-}" ]; then
  # shellcheck disable=SC2086
  /usr/bin/python3 bench/on_demand_benchmark.py --write docs/benchmarks.md ${ON_DEMAND_ARGS:-}
  /usr/bin/python3 bench/console_overhead.py --build-dir "$BUILD_DIR" --out docs/benchmarks.md
  # k: the console's charts with 50 live versions in headless chromium, through the
  # browser tests' harness and its npm packages (installed from their lockfile)
  [ -f tests/browser/node_modules/.package-lock.json ] || (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  QUIVER_BINARY="$BUILD_DIR/quiver" node bench/console_charts50.mjs --write docs/benchmarks.md
  # l: replicas sharing PostgreSQL (about 4 minutes; also skipped by SKIP_SCALE)
  /usr/bin/python3 bench/scale_out_benchmark.py --binary "$BUILD_DIR/quiver" --write docs/benchmarks.md
fi
