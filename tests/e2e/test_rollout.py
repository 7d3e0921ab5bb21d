"""Progressive rollouts against the real binary: a bad candidate under live load is
rolled back by evidence with no failed user request, an identical one is promoted
through every step, no traffic never promotes, the shadow gate stops a disagreeing
candidate before it serves anyone, and a manual gate waits for people (abort is
immediate and drops nothing)."""
import random
import subprocess
import sys
import threading
import time

import pytest
import requests

from conftest import ROOT, find_model

IRIS_IO = dict(inputs=[{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
               outputs=[{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}])


def iris_row(rng):
    return [round(rng.uniform(4.3, 7.9), 4), round(rng.uniform(2.0, 4.4), 4),
            round(rng.uniform(1.0, 6.9), 4), round(rng.uniform(0.1, 2.5), 4)]


class Load:
    """Threads sending routed requests until stopped; every answer is recorded."""

    def __init__(self, server, threads=4, seed=1):
        self.server = server
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.answers = []  # (time, status, version)
        self.threads = [threading.Thread(target=self.run, args=(seed + i,), daemon=True) for i in range(threads)]

    def run(self, seed):
        rng = random.Random(seed)
        session = requests.Session()
        url = self.server.url + "/v2/models/iris/infer"
        while not self.stop_flag.is_set():
            body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": iris_row(rng)}]}
            try:
                r = session.post(url, json=body, timeout=10)
                status, version = r.status_code, r.headers.get("x-quiver-model-version")
            except requests.RequestException as e:
                status, version = repr(e), None
            with self.lock:
                self.answers.append((time.time(), status, version))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)

    def failures(self):
        with self.lock:
            return [a for a in self.answers if a[1] != 200]


def rollout_status(server):
    r = server.get("/v1/deployments/iris/rollout")
    assert r.status_code == 200, r.text
    return r.json()


def wait_state(server, states, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = rollout_status(server)
        if last["state"] in states:
            return last
        time.sleep(0.05)
    raise AssertionError(f"rollout not in {states} after {timeout}s: {last}")


def rollout_spec(steps, metrics, **extra):
    analysis = {"tick": "250ms", "window": "10s", "min_samples": 30, "alpha": 0.01, "metrics": metrics}
    analysis.update(extra.pop("analysis", {}))
    return {"versions": [{"version": 1}, {"version": 2}],
            "rollout": {"baseline": 1, "candidate": 2, "steps": steps, "analysis": analysis, **extra}}


@pytest.fixture
def iris(server, example_models, tmp_path):
    """The server with trained iris v1 registered; v2 is up to each test."""
    out, manifest = example_models
    v1 = out / find_model(manifest, "iris", "v1", "torchscript")["path"]
    server.register("iris", v1, "torchscript", version=1, **IRIS_IO)

    def add_v2(kind):
        if kind == "same":
            path, framework = v1, "torchscript"
        elif kind == "worse":
            path, framework = out / find_model(manifest, "iris", "v2", "torchscript")["path"], "torchscript"
        else:
            path, framework = tmp_path / f"{kind}.pt", "torchscript"
            subprocess.run([sys.executable, str(ROOT / "tests" / "e2e" / "special_models.py"), kind, str(path)],
                           check=True)
        # A warmup that the flaky model answers (its failures depend on the input).
        warmup = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.1234, 3.0, 1.4, 0.2]}]}
        server.register("iris", path, framework, version=2, warmup=warmup, **IRIS_IO)

    return add_v2


def apply(server, spec):
    r = server.put("/v1/deployments/iris", json=spec)
    assert r.status_code == 200, r.text
    return r.json()


def test_bad_candidate_is_rolled_back_by_evidence_and_no_user_request_fails(server, iris):
    iris("flaky20")
    # Warm both versions with a plain deployment first, so the rollout starts on ready models.
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}]})
    with Load(server) as load:
        time.sleep(1)
        started = time.time()
        apply(server, rollout_spec([{"weight": 5, "pause": "5m"}],
                                   [{"name": "error_rate", "max_increase": 0.01}],
                                   retry_on_baseline=True, on_failure="rollback"))
        st = wait_state(server, ["aborted"], timeout=10)
        elapsed = time.time() - started
        time.sleep(0.5)
    assert elapsed < 10, elapsed
    assert st["candidate_share"] == 0, st
    assert "error_rate" in st["reason"], st
    assert load.failures() == [], load.failures()[:5]
    assert len(load.answers) > 500
    audit = server.get("/v1/audit", params={"model": "iris"}).json()
    rolled = [e for e in audit if e["action"] == "rollout.rolling_back"]
    assert rolled and rolled[0]["detail"]["metric"] == "error_rate", rolled
    assert rolled[0]["detail"]["limit"] == 0.01
    # The candidate's failures were counted against it even though users never saw them.
    metrics = server.get("/metrics").text
    errors = [l for l in metrics.splitlines()
              if l.startswith("quiver_inference_errors_total") and 'version="2"' in l]
    assert errors and float(errors[0].split()[-1]) > 0, errors


def test_identical_candidate_is_promoted_through_every_step(server, iris):
    iris("same")
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}]})
    steps = [{"shadow": 100, "pause": "2s"}, {"weight": 20, "pause": "2s"}, {"weight": 50, "pause": "2s"}]
    with Load(server) as load:
        apply(server, rollout_spec(steps, [{"name": "error_rate", "max_increase": 0.05},
                                           {"name": "shadow_top1_agreement", "min": 0.9}],
                                   analysis={"on_inconclusive": "pause"}))
        seen_steps = set()
        deadline = time.time() + 60
        while time.time() < deadline:
            st = rollout_status(server)
            seen_steps.add(st["step"])
            if st["state"] in ("promoted", "aborted", "paused"):
                break
            time.sleep(0.05)
    assert st["state"] == "promoted", st
    assert seen_steps == {0, 1, 2}, seen_steps
    assert load.failures() == []
    dep = server.get("/v1/deployments/iris").json()
    assert {t["version"]: t["weight"] for t in dep["traffic"]}["2"] > 0
    history = server.get("/v1/deployments/iris/history").json()
    assert len([h for h in history if h["client"] == "rollout-controller"]) >= 3


def test_no_traffic_never_promotes_pauses_then_aborts_with_no_data(server, iris):
    iris("same")
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}]})
    apply(server, rollout_spec([{"weight": 10, "pause": "1s"}], [{"name": "error_rate", "max_increase": 0.01}],
                               progress_deadline="4s"))
    paused = wait_state(server, ["paused", "promoted", "aborted"], timeout=10)
    assert paused["state"] == "paused", paused
    assert "no data" in paused["reason"]
    st = wait_state(server, ["aborted", "promoted"], timeout=10)
    assert st["state"] == "aborted" and "no data" in st["reason"], st


def test_shadow_gate_aborts_a_disagreeing_candidate_before_any_live_request(server, iris):
    iris("worse")
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}]})
    with Load(server) as load:
        apply(server, rollout_spec([{"shadow": 100, "pause": "30s"}, {"weight": 50, "pause": "30s"}],
                                   [{"name": "shadow_top1_agreement", "min": 0.98}]))
        st = wait_state(server, ["aborted", "promoted"], timeout=20)
    assert st["state"] == "aborted", st
    assert "shadow_top1_agreement" in st["reason"]
    assert not [a for a in load.answers if a[2] == "2"], "the candidate answered a user"
    assert load.failures() == []


def test_manual_gate_waits_and_abort_is_immediate_without_dropping_requests(server, iris):
    iris("same")
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}]})
    # With no metrics and no load after the abort, a finished step simply moves on.
    apply(server, rollout_spec([{"weight": 50, "pause": "manual"}, {"weight": 100, "pause": "1s"}], [],
                               analysis={"on_no_data": "continue"}))
    with Load(server) as load:
        time.sleep(2)
        st = rollout_status(server)
        assert st["state"] == "progressing" and st["step"] == 0, st
        r = server.post("/v1/deployments/iris/rollout/abort", json={"reason": "changed my mind"})
        assert r.status_code == 200, r.text
        aborted_at = time.time()
        time.sleep(0.1)
        with load.lock:
            load.answers.clear()
        time.sleep(1)
    after = [a for a in load.answers]
    assert after and all(a[2] == "1" for a in after), [a for a in after if a[2] != "1"][:5]
    assert load.failures() == []
    assert time.time() - aborted_at < 5
    assert wait_state(server, ["aborted"], timeout=5)["reason"].startswith("aborted")
    # promote on an aborted rollout says why it cannot
    r = server.post("/v1/deployments/iris/rollout/promote", json={})
    assert r.status_code == 409 and "aborted" in r.json()["error"], r.text
    # retry starts it again at its first step; the gate then waits for promote
    r = server.post("/v1/deployments/iris/rollout/retry", json={})
    assert r.status_code == 200 and r.json()["state"] == "progressing", r.text
    r = server.post("/v1/deployments/iris/rollout/promote", json={})
    assert r.status_code == 200 and r.json()["step"] == 1, r.text
    assert wait_state(server, ["promoted"], timeout=10)["candidate_share"] == 1


def test_rollout_errors_are_precise(server, iris):
    iris("same")
    bad = rollout_spec([{"weight": 5}], [{"name": "error_rate", "max_increase": 0.01, "max": 0.1}])
    r = server.put("/v1/deployments/iris", json=bad)
    assert r.status_code == 400 and "exactly one limit" in r.json()["error"], r.text
    r = server.put("/v1/deployments/iris", json=rollout_spec([{"wieght": 5}], []))
    assert r.status_code == 400 and "wieght" in r.json()["error"], r.text
    server.deploy("iris", {"versions": [{"version": 1}]})
    r = server.get("/v1/deployments/iris/rollout")
    assert r.status_code == 404 and "no rollout" in r.json()["error"]
    r = server.post("/v1/deployments/iris/rollout/explode", json={})
    assert r.status_code == 404


def test_a_rollout_survives_a_restart_and_resumes_at_its_step(server_factory, example_models, tmp_path):
    out, manifest = example_models
    data = tmp_path / "data"
    server = server_factory(data)
    v1 = out / find_model(manifest, "iris", "v1", "torchscript")["path"]
    server.register("iris", v1, "torchscript", version=1, **IRIS_IO)
    server.register("iris", v1, "torchscript", version=2, **IRIS_IO)
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}]})
    apply(server, rollout_spec([{"weight": 10, "pause": "1s"}, {"weight": 30, "pause": "manual"},
                                {"weight": 60, "pause": "1s"}], [], analysis={"on_no_data": "continue"}))
    deadline = time.time() + 20
    while time.time() < deadline and rollout_status(server)["step"] != 1:
        time.sleep(0.05)
    before = rollout_status(server)
    assert before["step"] == 1 and before["state"] == "progressing", before

    server.kill9()
    restarted = server_factory(data)
    deadline = time.time() + 60
    while time.time() < deadline:
        r = restarted.get("/v1/deployments/iris/rollout")
        if r.status_code == 200:
            break
        time.sleep(0.1)
    after = r.json()
    assert after["id"] == before["id"] and after["step"] == 1 and after["state"] == "progressing", after
    assert after["candidate_share"] == 0.3
    r = restarted.post("/v1/deployments/iris/rollout/promote", json={"reason": "after restart"})
    assert r.status_code == 200 and r.json()["step"] == 2, r.text
