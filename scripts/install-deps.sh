#!/usr/bin/env bash
# Installs every Debian package Quiver needs to build, test and run its demo.
# Idempotent and non-interactive: packages already present are left alone.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake ninja-build ccache pkg-config git
  # HTTP server (Beast is header-only; Asio needs nothing else), JSON, YAML, CLI, logs
  libboost-dev libsimdjson-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev
  libcli11-dev libspdlog-dev
  # persistence, hashing and TLS; zlib inflates Content-Encoding: gzip/deflate bodies
  libsqlite3-dev libssl-dev zlib1g-dev openssl
  # the server's allocator (glibc's malloc cost ~17% of its CPU under load)
  libjemalloc-dev
  # scale-out: the shared registry (PostgreSQL 15 and libpq), the load balancer of the
  # replica tests, and the offline checks of the Kubernetes manifests
  postgresql libpq-dev haproxy kubernetes-client yamllint
  # artifact copies in an S3-compatible store (SigV4 signing is libcurl's)
  libcurl4-openssl-dev
  # gRPC (Open Inference Protocol gRPC service)
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  # model runtimes
  libtorch-dev libopencv-dnn-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # fuzzing: clang 14 with libFuzzer and the sanitizer runtimes, llvm-symbolizer for reports
  clang libclang-rt-14-dev llvm
  python3 python3-torch python3-onnx python3-numpy python3-pytest python3-requests
  python3-grpcio python3-protobuf
  # observability tests: a real Prometheus (it ships promtool) scraping the server
  prometheus python3-yaml
  # the comparison server of the benchmarks (what users write by hand), on uvicorn's
  # fast loop and parser as `pip install "uvicorn[standard]"` installs it
  python3-fastapi python3-uvicorn python3-uvloop python3-httptools
  # the HTTP floor of the benchmarks (nginx answering a fixed body) and its load generators
  # (wrk; h2load for gRPC against HTTP under one client)
  nginx-light wrk nghttp2-client
  # the plots of the on-demand benchmarks (bench/on_demand_benchmark.py -> docs/images/)
  python3-matplotlib
  curl
  # the web console: its front-end build (node, npm) and its browser tests (chromium)
  chromium nodejs npm
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Node.js that brings its own npm (NodeSource's nodejs) conflicts with Debian's npm
# package: when npm already works, leave Node.js as it is.
if command -v npm >/dev/null 2>&1; then
  kept=()
  for p in "${missing[@]}"; do
    [ "$p" = npm ] || [ "$p" = nodejs ] || kept+=("$p")
  done
  missing=("${kept[@]}")
fi
# Likewise a kubectl from another package (a cloud SDK's) owns /usr/bin/kubectl, which
# Debian's kubernetes-client would overwrite: any kubectl renders the manifests.
if command -v kubectl >/dev/null 2>&1; then
  kept=()
  for p in "${missing[@]}"; do
    [ "$p" = kubernetes-client ] || kept+=("$p")
  done
  missing=("${kept[@]}")
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
