"""Traffic between live versions: weighted, sticky, rules, shadow, blue-green."""
import collections
import re
import threading
import time

import numpy as np
import pytest
import requests
import torch

from conftest import find_model

X = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -0.2, 0.1, 0.9]}]


@pytest.fixture
def iris3(server, example_models):
    """iris v1, v2 (different weights) and v3 (byte-identical to v1), all TorchScript."""
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    v2 = find_model(manifest, "iris", "v2", "torchscript")
    for entry in (v1, v2, v1):
        server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                        outputs=entry["outputs"])
    return server, models_dir, v1, v2


def spread(server, n, headers_fn=None, params_fn=None):
    counts = collections.Counter()
    with requests.Session() as s:
        for i in range(n):
            body = {"inputs": X}
            if params_fn:
                body["parameters"] = params_fn(i)
            r = s.post(server.url + "/v2/models/iris/infer", json=body,
                       headers=headers_fn(i) if headers_fn else {}, timeout=30)
            assert r.status_code == 200, r.text
            counts[r.headers["x-quiver-model-version"]] += 1
    return counts


def test_weighted_split_90_10_and_three_way(iris3):
    server = iris3[0]
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 90}, {"version": 2, "weight": 10}]})
    counts = spread(server, 3000)
    assert abs(counts["1"] / 3000 - 0.90) <= 0.025, counts
    assert abs(counts["2"] / 3000 - 0.10) <= 0.025, counts

    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}, {"version": 3}],
                           "traffic": [{"version": 1, "weight": 50}, {"version": 2, "weight": 30},
                                       {"version": 3, "weight": 20}]})
    counts = spread(server, 3000)
    for v, share in (("1", 0.5), ("2", 0.3), ("3", 0.2)):
        assert abs(counts[v] / 3000 - share) <= 0.025, counts
    status = server.get("/v1/deployments/iris").json()["status"]
    shares = {v["version"]: v["traffic_share"] for v in status["versions"]}
    assert shares == {1: 0.5, 2: 0.3, 3: 0.2}
    observed = {v["version"]: v["observed_share"] for v in status["versions"]}
    assert abs(observed[1] - 0.5) < 0.05, observed
    metrics = server.get("/metrics").text
    assert 'quiver_routed_requests_total{model="iris",route="weighted",version="2"}' in metrics


def test_sticky_keys_stay_and_move_minimally(iris3):
    server = iris3[0]

    def deploy(w2):
        server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                               "traffic": [{"version": 1, "weight": 100 - w2}, {"version": 2, "weight": w2}],
                               "sticky": {"header": "x-user-id"}})

    def assignment(keys):
        out = {}
        with requests.Session() as s:
            for k in keys:
                r = s.post(server.url + "/v2/models/iris/infer", json={"inputs": X},
                           headers={"x-user-id": k}, timeout=30)
                assert r.status_code == 200
                out[k] = r.headers["x-quiver-model-version"]
        return out

    keys = [f"user-{i}" for i in range(1000)]
    deploy(10)
    before = assignment(keys)
    assert assignment(keys[:200]) == {k: before[k] for k in keys[:200]}  # the same key, the same version
    assert 0.06 < sum(v == "2" for v in before.values()) / len(keys) < 0.14
    deploy(20)
    after = assignment(keys)
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == "1" and after[k] == "2" for k in moved), "a key left version 2"
    assert 0.05 < len(moved) / len(keys) < 0.15, len(moved)


def test_header_and_parameter_rules(iris3):
    server = iris3[0]
    server.deploy("iris", {
        "versions": [{"version": 1}, {"version": 2}, {"version": 3}],
        "rules": [
            {"match": {"header": "x-beta", "equals": "1"}, "version": 2},
            {"match": {"parameter": "amount", "gt": 1000}, "version": 3},
            {"match": {"parameter": "country", "in": ["DE", "FR"]}, "version": 2},
        ]})
    cases = [
        ({"x-beta": "1"}, None, "2"),
        ({"x-beta": "0"}, None, "1"),
        ({}, {"amount": 5000}, "3"),
        ({}, {"amount": 1000}, "1"),
        ({}, {"amount": 999.5}, "1"),
        ({}, {"country": "FR"}, "2"),
        ({}, {"country": "US"}, "1"),
        ({"x-beta": "1"}, {"amount": 5000}, "2"),  # first match wins
        ({}, {}, "1"),
    ]
    for headers, params, expected in cases:
        for _ in range(3):
            body = {"inputs": X}
            if params is not None:
                body["parameters"] = params
            r = server.post("/v2/models/iris/infer", json=body, headers=headers)
            assert r.status_code == 200, r.text
            assert r.headers["x-quiver-model-version"] == expected, (headers, params)


def shadow_stats(server, primary, shadow, want):
    deadline = time.time() + 20
    while time.time() < deadline:
        for p in server.get("/v1/deployments/iris").json()["status"].get("shadow", []):
            if p["primary"] == primary and p["shadow"] == shadow and p["compared"] >= want:
                return p
        time.sleep(0.05)
    raise AssertionError("shadow comparisons did not arrive")


def test_shadow_reports_agreement_and_true_divergence(iris3):
    server, models_dir, v1, v2 = iris3
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}, {"version": 3}],
                           "traffic": [{"version": 1, "weight": 100}],
                           "shadow": [{"version": 3, "percent": 100}, {"version": 2, "percent": 100}]})
    rng = np.random.default_rng(11)
    xs = rng.normal(size=(40, 4)).astype(np.float32) * 3
    m1 = torch.jit.load(str(models_dir / v1["path"]))
    m2 = torch.jit.load(str(models_dir / v2["path"]))
    with torch.no_grad():
        y1 = m1(torch.from_numpy(xs)).numpy()
        y2 = m2(torch.from_numpy(xs)).numpy()
    for i in range(len(xs)):
        r = server.post("/v2/models/iris/infer", json={"inputs": [
            {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": xs[i].tolist()}]})
        assert r.status_code == 200 and r.headers["x-quiver-model-version"] == "1"
        # The user's answer is the primary's, untouched by the shadows.
        np.testing.assert_allclose(r.json()["outputs"][0]["data"], y1[i], atol=1e-5, rtol=0)

    same = shadow_stats(server, 1, 3, len(xs))
    assert same["top1_agreement"] == 1.0 and same["max_abs_diff"] == 0.0 and same["errors"] == 0
    diff = shadow_stats(server, 1, 2, len(xs))
    true_max = float(np.abs(y1 - y2).max())
    true_mean = float(np.abs(y1 - y2).mean())
    true_top1 = float((y1.argmax(1) == y2.argmax(1)).mean())
    assert diff["max_abs_diff"] == pytest.approx(true_max, abs=1e-5)
    assert diff["mean_abs_diff"] == pytest.approx(true_mean, abs=1e-5)
    assert diff["top1_agreement"] == pytest.approx(true_top1, abs=1e-9)
    assert true_max > 1e-3  # the versions really differ
    metrics = server.get("/metrics").text
    assert 'quiver_shadow_top1_agreement{model="iris",shadow_version="3",version="1"} 1' in metrics
    shadowed = re.search(r'quiver_routed_requests_total\{model="iris",route="shadow",version="2"\} (\d+)', metrics)
    assert shadowed and int(shadowed.group(1)) >= len(xs), "every routed request was mirrored to v2"


def test_blue_green_switch_keeps_old_warm(iris3):
    server = iris3[0]
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 1}, {"version": 2, "weight": 0}]})
    assert set(spread(server, 50)) == {"1"}
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 0}, {"version": 2, "weight": 1}]})
    assert set(spread(server, 50)) == {"2"}
    status = server.get("/v1/deployments/iris").json()["status"]
    assert {v["version"]: v["state"] for v in status["versions"]} == {1: "ready", 2: "ready"}
    # The old version is still loaded and answers pinned requests at once.
    assert server.infer("iris", X, version=1).status_code == 200


def test_weight_changes_under_load_fail_no_request(iris3):
    server = iris3[0]
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]})
    stop = threading.Event()
    failures, done = [], collections.Counter()

    def client():
        with requests.Session() as s:
            while not stop.is_set():
                r = s.post(server.url + "/v2/models/iris/infer", json={"inputs": X}, timeout=30)
                if r.status_code != 200:
                    failures.append((r.status_code, r.text))
                done[r.headers.get("x-quiver-model-version")] += 1

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            w = (i * 10) % 101
            server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                                   "traffic": [{"version": 1, "weight": w}, {"version": 2, "weight": 100 - w}]})
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not failures, failures[:3]
    assert sum(done.values()) > 50


def test_invalid_specs_are_rejected_and_change_nothing(iris3):
    server = iris3[0]
    good = server.deploy("iris", {"versions": [{"version": 1}]})
    bad_specs = [
        ({"versions": [{"version": 1}], "trafic": []}, 400, "trafic"),
        ({"versions": [{"version": 1, "instnces": 2}]}, 400, "instnces"),
        ({"versions": [{"version": 1}], "traffic": [{"version": 1, "weight": -5}]}, 400, "weight"),
        ({"versions": [{"version": 1}], "traffic": [{"version": 1, "weight": 0}]}, 400, "weight"),
        ({"versions": [{"version": 1}], "traffic": [{"version": 2, "weight": 1}]}, 400, "not in versions"),
        ({"versions": [{"version": 1}], "shadow": [{"version": 3}]}, 400, "not in versions"),
        ({"versions": [{"version": 1}], "rules": [{"match": {"header": "a", "equals": "b"}, "version": 9}]},
         404, "9"),
    ]
    for spec, code, word in bad_specs:
        r = server.put("/v1/deployments/iris", json=spec)
        assert r.status_code == code, (spec, r.text)
        assert word in r.json()["error"], (word, r.json())
    current = server.get("/v1/deployments/iris").json()
    assert current["revision"] == good["revision"]
    assert server.infer("iris", X).status_code == 200

    dry = server.put("/v1/deployments/iris?dry_run=true", json={"versions": [{"version": 1}, {"version": 2}]})
    assert dry.status_code == 200 and dry.json()["changed"] is True
    assert server.get("/v1/deployments/iris").json()["revision"] == good["revision"]
