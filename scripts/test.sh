#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test: the GoogleTest unit suites
# (through ctest) and the black-box end-to-end suite (pytest, real binary).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh

# A throwaway PostgreSQL on loopback for the shared-registry tests (unit and end to
# end): the registry suite runs against both backends, and the replica tests share it.
PG_DIR=$(mktemp -d /tmp/quiver-test-pg.XXXXXX)
chmod 755 "$PG_DIR"
trap 'bash scripts/postgres.sh stop "$PG_DIR"; rm -rf "$PG_DIR"' EXIT
PG_URL=$(bash scripts/postgres.sh start "$PG_DIR")
export QUIVER_TEST_POSTGRES_URL="${PG_URL%/quiver}/postgres"
echo "== PostgreSQL for the tests: $QUIVER_TEST_POSTGRES_URL"

echo "== unit tests"
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 300

echo "== fuzz targets: build, replay the seed corpora, fuzz each briefly"
# About 2.5 minutes on 2 cores (a 1-minute clang build, then 10 s per target).
# (Three commands, not an && list: set -e does not stop on a failure inside one.)
bash scripts/fuzz.sh build
bash scripts/fuzz.sh replay
bash scripts/fuzz.sh short

echo "== end-to-end tests"
# The S3-compatible server of the artifact-copy tests (npm, from its lockfile).
if [ ! -f tests/s3/node_modules/.package-lock.json ] || [ tests/s3/package-lock.json -nt tests/s3/node_modules/.package-lock.json ]; then
  (cd tests/s3 && npm ci --no-audit --no-fund --loglevel=error)
fi
# Debian's interpreter: it is the one with python3-torch, numpy, pytest and requests.
/usr/bin/python3 -m pytest -q -p no:cacheprovider tests/e2e

echo "== browser tests: the web console in chromium"
bash scripts/browser-tests.sh
