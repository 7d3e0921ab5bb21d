"""Zero-downtime lifecycle: switching, rollback and failed loads under load; warmup
before traffic; health-based ejection and re-admission."""
import collections
import subprocess
import sys
import threading
import time
import os

import requests

from conftest import find_model

HERE = os.path.dirname(__file__)
X = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -0.2, 0.1, 0.9]}]
SIG = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
       "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]}


def special_model(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    subprocess.run([sys.executable, os.path.join(HERE, "special_models.py"), kind, str(path)], check=True)
    return path


class Load:
    """Clients sending routed requests without pause; records every outcome."""

    def __init__(self, server, threads=4, path="/v2/models/iris/infer"):
        self.server, self.path = server, path
        self.stop_flag = threading.Event()
        self.failures, self.versions, self.latencies = [], collections.Counter(), []
        self.threads = [threading.Thread(target=self.run) for _ in range(threads)]

    def run(self):
        with requests.Session() as s:
            while not self.stop_flag.is_set():
                t0 = time.time()
                try:
                    r = s.post(self.server.url + self.path, json={"inputs": X}, timeout=30)
                except requests.RequestException as e:  # a dropped connection is a failure too
                    self.failures.append(("exception", str(e)))
                    continue
                self.latencies.append(time.time() - t0)
                if r.status_code != 200:
                    self.failures.append((r.status_code, r.text))
                else:
                    self.versions[r.headers["x-quiver-model-version"]] += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def test_switch_rollback_and_corrupt_deploy_under_load_fail_nothing(server, example_models):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    v2 = find_model(manifest, "iris", "v2", "onnx")
    server.register("iris", models_dir / v1["path"], "torchscript", inputs=v1["inputs"], outputs=v1["outputs"])
    server.register("iris", models_dir / v2["path"], "onnx")
    server.register("iris", os.urandom(4096), "torchscript", **SIG)  # v3: corrupt
    server.deploy("iris", {"versions": [{"version": 1}]})
    started = time.time()
    with Load(server) as load:
        time.sleep(3)
        server.deploy("iris", {"versions": [{"version": 2}]})                     # switch v1 -> v2
        time.sleep(3)
        r = server.post("/v1/deployments/iris/rollback", json={})                 # back to v1
        assert r.status_code == 200, r.text
        assert r.json()["restored_revision"] == 1
        server.wait_deployment("iris", r.json()["revision"])
        time.sleep(3)
        server.deploy("iris", {"versions": [{"version": 3}]}, expect="failed")    # corrupt v3
        while time.time() - started < 20:
            time.sleep(0.5)
    assert not load.failures, load.failures[:3]
    assert load.versions["1"] > 0 and load.versions["2"] > 0 and sum(load.versions.values()) > 200
    # Afterwards v1 still serves, and status says why v3 failed.
    r = server.infer("iris", X)
    assert r.status_code == 200 and r.headers["x-quiver-model-version"] == "1"
    status = server.get("/v1/deployments/iris").json()["status"]
    assert status["state"] == "failed" and status["serving_revision"] == 3
    v3 = [v for v in status["versions"] if v["version"] == 3][0]
    assert v3["state"] == "failed" and "TorchScript" in v3["error"]
    history = server.get("/v1/deployments/iris/history").json()
    assert [h["revision"] for h in history] == [4, 3, 2, 1]
    assert "rollback to revision 1" in history[1]["reason"]


def test_slow_first_calls_never_reach_users(server, example_models, tmp_path):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", models_dir / v1["path"], "torchscript", inputs=v1["inputs"], outputs=v1["outputs"])
    server.register("iris", special_model(tmp_path, "slow_start"), "torchscript", **SIG)
    server.deploy("iris", {"versions": [{"version": 1}]})
    with Load(server, threads=2) as load:
        time.sleep(1)
        deployed = server.deploy("iris", {"versions": [{"version": 2}]})
        time.sleep(2)
    assert not load.failures, load.failures[:3]
    assert load.versions["2"] > 0
    # The slow calls (about a second each) all happened in warmup, before v2 took traffic.
    assert max(load.latencies) < 0.5, max(load.latencies)
    v2 = [v for v in deployed["status"]["versions"] if v["version"] == 2][0]
    assert v2["load_seconds"] > 1.0  # time to ready includes the warmup


def test_error_spike_ejects_and_probes_readmit(server, example_models, tmp_path):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", special_model(tmp_path, "flaky"), "torchscript", **SIG)          # v1: flaky
    server.register("iris", models_dir / v1["path"], "torchscript", **SIG)                    # v2: healthy
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}],
                           "health": {"probe_interval_ms": 100, "failure_threshold": 3, "max_error_rate": 0.5,
                                      "min_requests": 10, "window_ms": 3000}})
    big = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [900, 900, 900, 900]}]
    for _ in range(20):
        r = server.infer("iris", big, version=1)
        assert r.status_code == 500 and "input too large" in r.json()["error"]
    deadline = time.time() + 5
    while time.time() < deadline:
        st = {v["version"]: v for v in server.get("/v1/deployments/iris").json()["status"]["versions"]}
        if st[1]["ejected"]:
            break
        time.sleep(0.05)
    assert st[1]["ejected"] and "error rate" in st[1]["ejected_reason"]
    # Ejected: all routed traffic goes to the healthy version; pinned still reaches v1.
    # (The window is long enough that a busy machine finishes these before re-admission.)
    counts = collections.Counter(server.infer("iris", X).headers["x-quiver-model-version"] for _ in range(30))
    assert counts == {"2": 30}
    assert server.infer("iris", X, version=1).status_code == 200
    # Probes pass, and after one window the version is re-admitted.
    deadline = time.time() + 8
    while time.time() < deadline:
        st = {v["version"]: v for v in server.get("/v1/deployments/iris").json()["status"]["versions"]}
        if not st[1]["ejected"]:
            break
        time.sleep(0.1)
    assert not st[1]["ejected"]
    counts = collections.Counter(server.infer("iris", X).headers["x-quiver-model-version"] for _ in range(100))
    assert counts["1"] > 10 and counts["2"] > 10
    actions = [a["action"] for a in server.get("/v1/audit?model=iris").json()]
    assert "version.ejected" in actions and "version.readmitted" in actions
    metrics = server.get("/metrics").text
    assert 'quiver_ejections_total{model="iris",version="1"} 1' in metrics
    assert 'quiver_readmissions_total{model="iris",version="1"} 1' in metrics


def test_sigterm_drains_and_restart_restores(server_factory, example_models, tmp_path):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    server = server_factory(tmp_path / "d")
    server.register("iris", models_dir / v1["path"], "torchscript", inputs=v1["inputs"], outputs=v1["outputs"])
    server.deploy("iris", {"versions": [{"version": 1}]})
    results = []

    def client():
        with requests.Session() as s:
            for _ in range(200):
                try:
                    r = s.post(server.url + "/v2/models/iris/infer", json={"inputs": X}, timeout=10)
                    results.append(r.status_code)
                except requests.RequestException:
                    return  # the server stopped accepting: expected after SIGTERM
    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assert server.stop() == 0
    for t in threads:
        t.join()
    assert results and all(code == 200 for code in results), collections.Counter(results)
    again = server_factory(tmp_path / "d")
    again.wait_deployment("iris", 1)
    assert again.infer("iris", X).status_code == 200
