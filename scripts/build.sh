#!/usr/bin/env bash
# Configures and builds build/quiver, the unit tests and the benchmarks (Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build build
