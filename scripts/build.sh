#!/usr/bin/env bash
# Configures and builds (Ninja, ccache): everything by default, or the targets given
# (e.g. `scripts/build.sh quiver` for the server binary alone).
set -euo pipefail
cd "$(dirname "$0")/.."
# Let ccache share objects between checkouts of the project in different folders.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build build --target "$@"
else
  cmake --build build
fi
