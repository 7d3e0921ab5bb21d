#!/usr/bin/env bash
# Configures and builds (Ninja, ccache): everything by default, or the targets given
# (e.g. `scripts/build.sh quiver` for the server binary alone).
set -euo pipefail
cd "$(dirname "$0")/.."
# Let ccache share objects between checkouts of the project in different folders.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# The web console's npm packages (ui/), from its lockfile, when missing or out of date:
# CMake bundles the console with them and embeds it in the binary (cmake/ui.cmake).
if command -v npm >/dev/null 2>&1 &&
   { [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; }; then
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build build --target "$@"
else
  cmake --build build
fi
