#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the GoogleTest unit suites
# (through ctest) and the black-box end-to-end suite (pytest, real binary).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh

echo "== unit tests"
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 300

echo "== fuzz targets: build, replay the seed corpora, fuzz each briefly"
# About 2.5 minutes on 2 cores (a 1-minute clang build, then 10 s per target).
# (Three commands, not an && list: set -e does not stop on a failure inside one.)
bash scripts/fuzz.sh build
bash scripts/fuzz.sh replay
bash scripts/fuzz.sh short

echo "== end-to-end tests"
# Debian's interpreter: it is the one with python3-torch, numpy, pytest and requests.
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

echo "== browser tests: the web console in chromium"
bash scripts/browser-tests.sh
