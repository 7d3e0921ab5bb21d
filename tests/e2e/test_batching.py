"""Serving under load: dynamic batching answers every caller with its own rows, a
bounded queue refuses work it cannot take (429) and keeps serving, a request whose
deadline passes in the queue gets 504, and the response cache answers repeats."""
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from torch import nn

from conftest import find_model

IRIS_IO = {
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}],
}


class SlowIris(nn.Module):
    """A 4 -> 3 classifier that burns tens of milliseconds per call, whatever the
    batch: it keeps one instance busy long enough for a queue to build up."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.lin = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = torch.ones(200, 200)
        for _ in range(12):
            a = torch.tanh(a @ a / 200.0)
        return torch.softmax(self.lin(x) + a[0, 0] * 0.0, dim=1)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("slow") / "slow_iris.pt"
    torch.jit.script(SlowIris()).save(str(path))
    return path


def iris_input(x):
    return [{"name": "input", "shape": list(x.shape), "datatype": "FP32", "data": x.flatten().tolist()}]


def as_array(output):
    return np.array(output["data"], dtype=np.float32).reshape(output["shape"])


def metric_samples(server, name):
    """{labels text: value} of every sample of `name` on /metrics."""
    text = server.get("/metrics").text
    out = {}
    for m in re.finditer(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)$", text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


def metric(server, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`."""
    want = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for lbl, v in metric_samples(server, name).items() if all(w in lbl for w in want))


@pytest.mark.parametrize("framework", ["torchscript", "onnx"])
def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(server, example_models, framework):
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v1", framework)
    reference = torch.jit.load(str(models_dir / find_model(manifest, "iris", "v1", "torchscript")["path"]))
    server.register("iris", models_dir / entry["path"], framework, **IRIS_IO)
    server.deploy("iris", {"versions": [{"version": 1, "instances": 1,
                                         "batching": {"max_batch_size": 16, "max_queue_delay_us": 5000}}]})

    rng = np.random.default_rng(5)
    requests_x = [rng.normal(size=(int(rng.integers(1, 4)), 4)).astype(np.float32) for _ in range(200)]

    def call(x):
        r = server.infer("iris", iris_input(x), version=1)
        assert r.status_code == 200, r.text
        return as_array(r.json()["outputs"][0])

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(call, requests_x))
    for x, got in zip(requests_x, answers):
        with torch.no_grad():
            want = reference(torch.from_numpy(x)).numpy()
        assert got.shape == (x.shape[0], 3)
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)

    calls = metric(server, "quiver_batch_requests_count", model="iris", version="1")
    alone = metric(server, "quiver_batch_requests_bucket", model="iris", version="1", le="1")
    assert calls > 0 and alone < calls, "no backend call merged two requests"
    assert calls < 200 + 10, "more backend calls than requests (plus warmup)"
    # Rows per backend call: never above max_batch_size, and every row counted.
    assert metric(server, "quiver_batch_size_bucket", model="iris", version="1", le="16") == \
        metric(server, "quiver_batch_size_count", model="iris", version="1")
    assert metric(server, "quiver_batch_size_sum", model="iris", version="1") >= sum(len(x) for x in requests_x)


def test_saturated_version_answers_429_and_keeps_serving(server, slow_model):
    server.register("slow", slow_model, "torchscript", **IRIS_IO)
    server.deploy("slow", {"versions": [{"version": 1, "instances": 1, "max_queue": 2}]})
    x = np.full((1, 4), 0.5, dtype=np.float32)

    def call(_):
        return server.infer("slow", iris_input(x), version=1)

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(call, range(32)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429}, codes
    assert codes.count(429) > 0, "a full queue must refuse work"
    assert codes.count(200) >= 1  # refusals are instant, so a burst may see only the first few served
    refused = next(r for r in responses if r.status_code == 429)
    assert "overloaded" in refused.json()["error"] and "slow" in refused.json()["error"]
    assert metric(server, "quiver_rejected_requests_total", model="slow", version="1") == codes.count(429)
    # The queue drained: it serves again.
    for _ in range(3):
        assert call(0).status_code == 200


def test_request_past_its_deadline_in_the_queue_gets_504(server, slow_model):
    server.register("slow", slow_model, "torchscript", **IRIS_IO)
    server.deploy("slow", {"versions": [{"version": 1, "instances": 1}]})
    x = np.full((1, 4), 0.25, dtype=np.float32)
    stop = threading.Event()
    failures = []

    def keep_busy():
        while not stop.is_set():
            r = server.infer("slow", iris_input(x), version=1)
            if r.status_code != 200:
                failures.append(r.text)

    busy = [threading.Thread(target=keep_busy) for _ in range(3)]
    for t in busy:
        t.start()
    try:
        codes = []
        for i in range(10):
            if i % 2:
                r = server.infer("slow", iris_input(x), version=1, headers={"x-quiver-timeout-ms": "1"})
            else:
                r = server.infer("slow", iris_input(x), version=1, parameters={"timeout_ms": 1})
            codes.append(r.status_code)
            if r.status_code == 504:
                # The budget left when it was queued: 1 ms, or 0 when a busy machine took
                # longer than that between reading the header and queueing the request.
                assert re.search(r"over its deadline of [01] ms", r.json()["error"]), r.text
                assert "model 'slow' version 1" in r.json()["error"], r.text
    finally:
        stop.set()
        for t in busy:
            t.join()
    assert set(codes) <= {200, 504}, codes
    assert codes.count(504) > 0, "a 1 ms deadline behind a busy queue must expire"
    assert not failures, failures[:3]
    assert metric(server, "quiver_expired_requests_total", model="slow", version="1") == codes.count(504)
    # A generous deadline is met, and a malformed one is a client error.
    assert server.infer("slow", iris_input(x), version=1, headers={"x-quiver-timeout-ms": "60000"}).status_code == 200
    bad = server.infer("slow", iris_input(x), version=1, headers={"x-quiver-timeout-ms": "soon"})
    assert bad.status_code == 400 and "x-quiver-timeout-ms" in bad.json()["error"]


def test_response_cache_answers_repeats(server, example_models):
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", models_dir / entry["path"], "torchscript", **IRIS_IO)
    server.deploy("iris", {"versions": [{"version": 1}], "cache": {"max_entries": 100}})

    def hits():
        return metric(server, "quiver_cache_hits_total", model="iris", version="1")

    def misses():
        return metric(server, "quiver_cache_misses_total", model="iris", version="1")

    a = iris_input(np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32))
    b = iris_input(np.array([[0.4, 0.3, 0.2, 0.1]], dtype=np.float32))
    first = server.infer("iris", a)
    assert first.status_code == 200, first.text
    assert (hits(), misses()) == (0, 1)
    again = server.infer("iris", a)
    assert again.status_code == 200 and again.headers["x-quiver-model-version"] == "1"
    assert (hits(), misses()) == (1, 1)
    assert again.json()["outputs"] == first.json()["outputs"]
    pinned = server.infer("iris", a, version=1)
    assert pinned.json()["outputs"] == first.json()["outputs"]
    assert hits() == 2
    other = server.infer("iris", b)
    assert other.status_code == 200
    assert (hits(), misses()) == (2, 2)
    assert other.json()["outputs"] != first.json()["outputs"]

    # Without a cache section nothing is cached.
    server.deploy("iris", {"versions": [{"version": 1}]})
    server.infer("iris", a)
    assert (hits(), misses()) == (2, 2)
