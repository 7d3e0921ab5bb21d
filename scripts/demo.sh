#!/usr/bin/env bash
# One command from a fresh machine to a running server: installs dependencies,
# builds, makes the example models, starts `quiver serve` on its embedded defaults
# (data in ./quiver-data), pushes two versions of the iris classifier (TorchScript v1,
# ONNX v2) and deploys them with a 90/10 split. Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${QUIVER_HTTP_PORT:-8000}"
export QUIVER_SERVER="http://127.0.0.1:${PORT}"

bash scripts/install-deps.sh
bash scripts/build.sh quiver
/usr/bin/python3 scripts/make_example_models.py examples/models >/dev/null

./build/quiver serve --http-port "$PORT" --grpc-port 0 --data-dir ./quiver-data &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null; wait $SERVER_PID' INT TERM EXIT
for _ in $(seq 1 100); do
  curl -fsS "$QUIVER_SERVER/v2/health/live" >/dev/null 2>&1 && break
  sleep 0.1
done

# Push only once: versions are immutable, so a second run reuses what is there.
if ! curl -fsS "$QUIVER_SERVER/v1/models/iris" >/dev/null 2>&1; then
  ./build/quiver push examples/models/iris_v1.pt --model iris \
    --input input:FP32:-1,4 --output probabilities:FP32:-1,3 --description "iris MLP, all four measurements (97.8 % held out)"
  ./build/quiver push examples/models/iris_v2.onnx --model iris --description "iris MLP, sepals only (75.6 % held out)" --alias canary
fi
./build/quiver apply -f examples/iris-deployment.yaml --reason "demo"
for _ in $(seq 1 300); do
  curl -fsS "$QUIVER_SERVER/v2/models/iris/ready" 2>/dev/null | grep -q '"ready":true' && break
  sleep 0.1
done
./build/quiver status iris
./build/quiver infer iris --input input:FP32:1,4=5.1,3.5,1.4,0.2

cat <<MSG

Quiver is serving on $QUIVER_SERVER (Ctrl-C to stop). Try:
  ./build/quiver models
  ./build/quiver status iris
  curl -s $QUIVER_SERVER/v2/models/iris/infer -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
  curl -s $QUIVER_SERVER/metrics | grep quiver_
MSG
wait $SERVER_PID
