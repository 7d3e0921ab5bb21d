#!/usr/bin/env bash
# Builds the server and every benchmark, runs the whole suite and rewrites
# docs/benchmarks.md with the numbers and the exact commands of this run.
# Takes about five minutes once built. BUILD_DIR (default: build) picks the build directory;
# extra arguments go to bench/run_benchmarks.py (e.g. --duration 4, --only ab).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" -DQUIVER_BUILD_BENCH=ON >/dev/null
cmake --build "$BUILD_DIR" --target quiver routing_bench json_codec_bench raw_forward_bench
exec /usr/bin/python3 bench/run_benchmarks.py --build-dir "$BUILD_DIR" --out docs/benchmarks.md "$@"
