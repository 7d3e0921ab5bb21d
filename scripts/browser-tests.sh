#!/usr/bin/env bash
# Browser tests of the web console (tests/browser/): playwright-core drives Debian's
# chromium, headless, against a `quiver serve` the tests start on port 0. Installs the
# tests' npm packages from their lockfile when needed, makes the example models, and
# exits non-zero when a test fails. Expects build/quiver (scripts/build.sh quiver).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x build/quiver ]; then
  echo "browser-tests: build/quiver is missing; run scripts/build.sh quiver first" >&2
  exit 1
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "browser-tests: no chromium; run scripts/install-deps.sh" >&2
  exit 1
fi
if [ ! -f tests/browser/node_modules/.package-lock.json ] ||
   [ tests/browser/package-lock.json -nt tests/browser/node_modules/.package-lock.json ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
[ -f examples/models/manifest.json ] || /usr/bin/python3 scripts/make_example_models.py examples/models >/dev/null

cd tests/browser
# Works with the Node.js of Debian 12 (18) and later.
# Bounded: a hung browser or server must not hold the whole test run.
exec timeout 900 node --test "$@" ./*.test.mjs
