"""Scale-out: three replicas sharing one PostgreSQL registry behind HAProxy, all real,
all on loopback. Changes propagate in well under a second, sticky keys agree on every
replica, one leader at a time (a killed leader is replaced within 4 s, a paused one
is fenced), a replica killed under load costs no request, PostgreSQL going away costs
no inference, concurrent creates number versions without gaps, and a rollout decides on
the traffic of every replica."""
import concurrent.futures
import json
import random
import signal
import subprocess
import time

import pytest
import requests

from cluster_harness import Cluster, Load, Postgres, Replica
from conftest import BINARY, find_model

IRIS_IO = dict(inputs=[{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
               outputs=[{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}])
IRIS_BODY = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}


@pytest.fixture(scope="module")
def pg():
    p = Postgres().start()
    yield p
    p.cleanup()


@pytest.fixture
def make_cluster(pg, tmp_path):
    made = []

    def make(n=3, extra_args=(), with_haproxy=True, replica_args=None):
        c = Cluster(pg, tmp_path / f"cluster{len(made)}", n, extra_args, replica_args)
        made.append(c)
        return c.start(with_haproxy)

    yield make
    for c in made:
        c.stop()


@pytest.fixture
def iris_paths(example_models):
    out, manifest = example_models
    return (out / find_model(manifest, "iris", "v1", "torchscript")["path"],
            out / find_model(manifest, "iris", "v2", "torchscript")["path"])


def tw(w1, w2):
    """Traffic weights for versions 1 and 2."""
    return [{"version": 1, "weight": w1}, {"version": 2, "weight": w2}]


def register_iris(replica, iris_paths, versions=(1, 2)):
    for v in versions:
        replica.register("iris", iris_paths[v - 1], "torchscript", version=v, **IRIS_IO)


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def time_to_apply_everywhere(cluster, writer, spec):
    r = writer.put("/v1/deployments/iris", json=spec)
    assert r.status_code == 200, r.text
    revision = r.json()["revision"]
    start = time.time()
    pending = {rep.replica_id: rep for rep in cluster.replicas}
    while pending and time.time() - start < 10:
        for rid, rep in list(pending.items()):
            if rep.serving_revision("iris") == revision:
                del pending[rid]
        time.sleep(0.01)
    assert not pending, f"not applied on {sorted(pending)}"
    return time.time() - start


def test_an_apply_is_live_on_every_replica_within_500ms_with_notifications(make_cluster, iris_paths):
    c = make_cluster()
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(90, 10)})
    c.wait_converged()
    times = []
    for i, weights in enumerate([(50, 50), (10, 90), (70, 30)]):
        writer = c.replicas[i % 3]
        spec = {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(weights[0], weights[1])}
        times.append(time_to_apply_everywhere(c, writer, spec))
    assert max(times) < 0.5, times
    # The change is also visible through the load balancer: every replica routes by it.
    r = requests.get(c.haproxy.url + "/v1/deployments/iris", timeout=5)
    assert r.status_code == 200, r.text
    # `quiver status` shows every replica, the leader, and that they have converged.
    c.wait_converged()
    out = subprocess.run([str(BINARY), "status", "--server", c.replicas[1].url], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert "3 live replica(s), converged" in out.stdout, out.stdout
    table = [line.split() for line in out.stdout.splitlines() if line.startswith("r")]
    assert sorted(row[0] for row in table) == ["r0", "r1", "r2"], out.stdout
    assert sum(1 for row in table if "leader" in row) == 1, out.stdout
    assert all(row[-1] == "yes" for row in table), out.stdout


def test_polling_alone_propagates_within_1500ms(make_cluster, iris_paths):
    c = make_cluster(extra_args=["--no-registry-notify"], with_haproxy=False)
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(90, 10)})
    c.wait_converged()
    times = [time_to_apply_everywhere(c, c.replicas[i], {"versions": [{"version": 1}, {"version": 2}],
                                                          "traffic": tw(20 + i, 80 - i)})
             for i in range(3)]
    assert max(times) < 1.5, times


def test_sticky_keys_get_the_same_version_on_every_replica(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(50, 50),
                                  "sticky": {"header": "x-user-id"}})
    c.wait_converged()
    rng = random.Random(7)
    keys = ["user-%d" % rng.randrange(10 ** 9) for _ in range(1000)]

    def versions_on(replica):
        s = requests.Session()
        out = []
        for k in keys:
            r = s.post(replica.url + "/v2/models/iris/infer", json=IRIS_BODY, headers={"x-user-id": k}, timeout=10)
            assert r.status_code == 200, r.text
            out.append(r.headers["x-quiver-model-version"])
        return out

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(versions_on, c.replicas))
    assert answers[0] == answers[1] == answers[2]
    assert 350 < answers[0].count("2") < 650  # and the split is the configured one


def leaders(replicas):
    return [r.replica_id for r in replicas if r.metric("quiver_cluster_leader") == 1]


def test_a_killed_leader_is_replaced_within_4s_and_never_two_lead(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    old = c.leader()
    old_epoch = old.metric("quiver_cluster_leader_epoch")
    others = [r for r in c.replicas if r is not old]
    old.kill9()
    killed_at = time.time()
    new = None
    while time.time() - killed_at < 10:
        current = leaders(others)
        assert len(current) <= 1, current
        if current:
            new = next(r for r in others if r.replica_id == current[0])
            break
        time.sleep(0.02)
    took = time.time() - killed_at
    assert new is not None and took < 4.0, took
    assert new.metric("quiver_cluster_leader_epoch") > old_epoch
    doc = new.cluster()
    assert doc["leader"] == new.replica_id and doc["epoch"] > old_epoch
    # Watch a little longer: still exactly one.
    for _ in range(20):
        assert len(leaders(others)) == 1
        time.sleep(0.05)


def test_a_paused_leader_is_fenced_when_it_resumes(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    register_iris(c.replicas[0], iris_paths)
    old = c.leader()
    old_epoch = int(old.metric("quiver_cluster_leader_epoch"))
    others = [r for r in c.replicas if r is not old]
    old.proc.send_signal(signal.SIGSTOP)
    try:
        new = c.leader(among=others, timeout=6)
    finally:
        old.proc.send_signal(signal.SIGCONT)
    new_epoch = int(new.metric("quiver_cluster_leader_epoch"))
    assert new_epoch > old_epoch
    # Resumed, the old leader's term has run out on its own clock: it neither leads nor
    # may write (its fence names the old epoch; the registry refuses such writes).
    time.sleep(0.3)
    assert old.metric("quiver_cluster_leader") == 0
    assert leaders(c.replicas) == [new.replica_id]
    doc = old.cluster()
    assert doc["leader"] == new.replica_id and doc["epoch"] == new_epoch


def test_a_replica_killed_under_load_costs_no_request_and_catches_up(make_cluster, iris_paths):
    c = make_cluster()
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(50, 50)})
    c.wait_converged()
    victim = c.replicas[1]
    with Load(c.haproxy.url + "/v2/models/iris/infer", IRIS_BODY) as load:
        time.sleep(2)
        victim.kill9()
        time.sleep(2)
        # A change while it is down, then it comes back and must catch up.
        r = c.replicas[0].put("/v1/deployments/iris", json={"versions": [{"version": 1}, {"version": 2}],
                                                           "traffic": tw(20, 80)})
        assert r.status_code == 200, r.text
        victim.start()
        time.sleep(2)
    assert load.count() > 200
    assert load.failures() == [], load.failures()[:5]
    doc = c.wait_converged()
    assert {r["id"] for r in doc["replicas"] if r["live"]} == {"r0", "r1", "r2"}
    # The shape ../shared/API.md fixes.
    assert isinstance(doc["leader"], str) and doc["epoch"] >= 1 and doc["revision"] >= 1
    for row in doc["replicas"]:
        assert {"id", "address", "revision", "converged", "heartbeat_age_ms"} <= row.keys(), row
    assert victim.serving_revision("iris") == r.json()["revision"]


def test_postgresql_down_for_30s_fails_no_inference_writes_answer_503_then_all_converge(make_cluster, pg,
                                                                                        iris_paths):
    c = make_cluster()
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(50, 50)})
    c.wait_converged()
    with Load(c.haproxy.url + "/v2/models/iris/infer", IRIS_BODY, threads=2) as load:
        time.sleep(1)
        pg.stop()
        down_at = time.time()
        try:
            time.sleep(3)
            r = c.replicas[1].put("/v1/deployments/iris", json={"versions": [{"version": 1}], "traffic": [{"version": 1, "weight": 100}]})
            assert r.status_code == 503, r.text
            assert r.headers.get("Retry-After"), r.headers
            assert "unreachable" in r.json()["error"]
            assert all(rep.metric("quiver_registry_connected") == 0 for rep in c.replicas)
            assert leaders(c.replicas) == []  # the leader stepped down
            # Readiness never asks the database: the replicas stay in the balancer.
            assert all(rep.get("/readyz").status_code == 200 for rep in c.replicas)
            time.sleep(max(0, 30 - (time.time() - down_at)))
        finally:
            pg.start()
        time.sleep(3)
    assert load.count() > 100
    assert load.failures() == [], load.failures()[:5]
    # Reconnected: writes work again, a leader is back, and a change reaches everyone.
    wait_until(lambda: all(rep.metric("quiver_registry_connected") == 1 for rep in c.replicas), 15, "reconnect")
    wait_until(lambda: len(leaders(c.replicas)) == 1, 10, "a leader")
    took = time_to_apply_everywhere(c, c.replicas[2], {"versions": [{"version": 1}, {"version": 2}],
                                                       "traffic": tw(30, 70)})
    assert took < 1.5
    c.wait_converged()


def test_60_concurrent_creates_from_3_replicas_number_versions_1_to_60(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    sha = c.replicas[0].upload(iris_paths[0])
    for rep in c.replicas[1:]:
        assert rep.upload(iris_paths[0]) == sha

    def create(i):
        rep = c.replicas[i % 3]
        r = rep.post("/v1/models/many/versions", json={"artifact": sha, "framework": "torchscript", **IRIS_IO})
        return r.status_code, r.text

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(create, range(60)))
    assert all(code == 201 for code, _ in answers), [a for a in answers if a[0] != 201][:3]
    versions = sorted(json.loads(text)["version"] for _, text in answers)
    assert versions == list(range(1, 61))
    listed = c.replicas[2].get("/v1/models/many").json()["versions"]
    assert [v if isinstance(v, int) else v["version"] for v in listed] == list(range(1, 61))


def test_a_version_pushed_to_one_replica_loads_on_every_replica_from_the_durable_copy(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    register_iris(c.replicas[0], iris_paths, versions=(1,))  # the blob reaches replica 0 only
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}]})
    c.wait_converged()
    for rep in c.replicas:
        r = rep.infer("iris", IRIS_BODY["inputs"])
        assert r.status_code == 200, r.text
        assert rep.get("/v1/blobs/" + rep.get("/v1/models/iris/versions/1").json()["artifact"],
                       stream=True).status_code == 200


def test_a_rollout_decides_on_the_traffic_of_every_replica(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    register_iris(c.replicas[0], iris_paths)
    # Version 2 is the same model as version 1 under another number: a sound candidate.
    c.replicas[0].register("iris", iris_paths[0], "torchscript", version=3, **IRIS_IO)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}]})
    c.wait_converged()
    leader = c.leader()
    followers = [r for r in c.replicas if r is not leader]
    spec = {"versions": [{"version": 1}, {"version": 3}],
            "rollout": {"baseline": 1, "candidate": 3, "steps": [{"weight": 50, "pause": "2s"}],
                        "analysis": {"tick": "250ms", "window": "10s", "min_samples": 100, "alpha": 0.01,
                                     "on_no_data": "pause",
                                     "metrics": [{"name": "error_rate", "max_increase": 0.05}]}}}
    r = c.replicas[1].put("/v1/deployments/iris", json=spec)
    assert r.status_code == 200, r.text
    # Traffic only to the followers: the leader sees none of it itself.
    loads = [Load(f.url + "/v2/models/iris/infer", IRIS_BODY, threads=2) for f in followers]
    for load in loads:
        load.__enter__()
    try:
        state = wait_until(lambda: (lambda s: s if s["state"] in ("promoted", "rolled_back", "aborted") else None)(
            leader.get("/v1/deployments/iris/rollout").json()), 60, "the rollout to finish")
    finally:
        for load in loads:
            load.__exit__(None, None, None)
    assert state["state"] == "promoted", json.dumps(state, indent=1)
    assert all(load.failures() == [] for load in loads)
    # Every replica reads the same outcome.
    for rep in c.replicas:
        assert rep.get("/v1/deployments/iris/rollout").json()["state"] == "promoted"


def test_a_replica_started_cold_while_postgresql_is_down_serves_its_saved_snapshot(make_cluster, pg, iris_paths):
    c = make_cluster(n=2, with_haproxy=False)
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}], "traffic": tw(50, 50)})
    c.wait_converged()
    cold = c.replicas[1]
    snapshot = cold.data_dir / "registry-snapshot.db"
    wait_until(lambda: snapshot.exists(), 15, "the replica to save its registry snapshot")
    time.sleep(1)
    cold.kill9()
    pg.stop()
    try:
        cold.start()  # the database is down: it serves what it last saw
        wait_until(lambda: cold.get("/v2/health/ready").status_code == 200, 60, "the snapshot to serve")
        for _ in range(20):
            r = cold.infer("iris", IRIS_BODY["inputs"])
            assert r.status_code == 200, r.text
        r = cold.put("/v1/deployments/iris", json={"versions": [{"version": 1}], "traffic": [{"version": 1, "weight": 100}]})
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text
        assert "snapshot" in r.json()["error"] or "unreachable" in r.json()["error"]
    finally:
        pg.start()
    # The database is back: the replica swaps the shared registry in and follows changes.
    wait_until(lambda: cold.metric("quiver_registry_connected") == 1, 20, "reconnect")
    took = time_to_apply_everywhere(c, c.replicas[0], {"versions": [{"version": 1}, {"version": 2}],
                                                       "traffic": tw(10, 90)})
    assert took < 1.5
    r = cold.put("/v1/deployments/iris", json={"versions": [{"version": 1}, {"version": 2}], "traffic": tw(30, 70)})
    assert r.status_code == 200, r.text


def test_a_traffic_move_waits_until_every_live_replica_has_the_version_ready(make_cluster, iris_paths):
    # r2 warms every version for a long while (many warmup runs): the others must not
    # route to version 2 before r2 can serve it too.
    c = make_cluster(with_haproxy=False, replica_args={2: ["--warmup-runs", "60000"]})
    register_iris(c.replicas[0], iris_paths, versions=(1,))
    first = c.replicas[0].deploy("iris", {"versions": [{"version": 1}]}, wait=False)["revision"]
    wait_until(lambda: all(r.serving_revision("iris") == first for r in c.replicas), 120, "version 1 everywhere")
    register_iris(c.replicas[0], iris_paths, versions=(2,))
    r = c.replicas[0].put("/v1/deployments/iris", json={"versions": [{"version": 1}, {"version": 2}],
                                                      "traffic": tw(50, 50)})
    assert r.status_code == 200, r.text
    second = r.json()["revision"]

    def v2_state(replica):
        status = replica.get("/v1/deployments/iris").json()["status"]
        return next((v["state"] for v in status["versions"] if v["version"] == 2), None)

    held_seen = False
    deadline = time.time() + 120
    while time.time() < deadline:
        slow_ready = v2_state(c.replicas[2]) == "ready"
        fast = [rep.serving_revision("iris") for rep in c.replicas[:2]]
        if not slow_ready:
            # While r2 cannot serve version 2, nobody routes to it.
            assert fast == [first, first], (fast, v2_state(c.replicas[2]))
            held_seen = held_seen or v2_state(c.replicas[0]) == "ready"
        elif all(rep.serving_revision("iris") == second for rep in c.replicas):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the traffic move never went live everywhere")
    assert held_seen, "r0 had version 2 ready while r2 was still warming: the wait was never exercised"


def test_the_leaders_bandit_learns_from_every_replica_and_every_replica_routes_by_it(make_cluster, iris_paths):
    c = make_cluster(with_haproxy=False)
    register_iris(c.replicas[0], iris_paths)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                                  "bandit": {"arms": [1, 2], "policy": "thompson", "warmup_per_arm": 20,
                                             "min_share": 0.05, "tick": "100ms"}})
    c.wait_converged()
    leader = c.leader()
    followers = [r for r in c.replicas if r is not leader]
    rng = random.Random(5)
    reward_rate = {"1": 0.2, "2": 0.8}
    served = []
    # Every request and its feedback go to a follower: the leader learns only through
    # the counters the followers publish.
    for i in range(1200):
        rep = followers[i % 2]
        rid = f"c{i}"
        r = rep.infer("iris", IRIS_BODY["inputs"], headers={"x-request-id": rid})
        assert r.status_code == 200, r.text
        version = r.headers["x-quiver-model-version"]
        served.append(version)
        fb = rep.post("/v1/feedback", json={"model": "iris", "id": rid,
                                            "reward": 1.0 if rng.random() < reward_rate[version] else 0.0})
        assert fb.status_code == 200 and fb.json()["joined"] == 1, fb.text
    late = served[-400:]
    assert late.count("2") / len(late) > 0.7, (late.count("1"), late.count("2"))
    # Every reward reaches the leader (pooled from both followers) within a few heartbeats.
    status = wait_until(lambda: (lambda st: st if sum(a["rewards"] for a in st["arms"]) == 1200 else None)(
        leader.get("/v1/deployments/iris/bandit").json()), 10, "every reward at the leader")
    for rep in followers:  # the followers answer with the leader's numbers
        st = rep.get("/v1/deployments/iris/bandit").json()
        assert st.get("from_leader") is True, st
        assert {a["version"]: a["share"] for a in st["arms"]}[2] > 0.7, st


def test_feedback_posted_to_any_replica_joins_the_prediction_made_on_another(make_cluster, iris_paths):
    c = make_cluster()
    c.replicas[0].register("iris", iris_paths[0], "torchscript", version=1,
                           metadata={"labels": "setosa,versicolor,virginica"}, **IRIS_IO)
    c.replicas[0].deploy("iris", {"versions": [{"version": 1}]})
    c.wait_converged()
    rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
    predicted = {}
    # Requests through the load balancer; each answer names its request id.
    for i in range(60):
        rid = f"x{i}"
        r = requests.post(c.haproxy.url + "/v2/models/iris/infer", timeout=10, headers={"x-request-id": rid},
                          json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                            "data": rows[i % 3]}]})
        assert r.status_code == 200, r.text
        probs = r.json()["outputs"][0]["data"]
        predicted[rid] = max(range(3), key=lambda k: probs[k])
    # Feedback, each item to a replica chosen at random: most land where the
    # prediction was not made, and are forwarded.
    rng = random.Random(9)
    forwarded = joined = 0
    for rid, label in predicted.items():
        truth = label if rng.random() < 0.75 else (label + 1) % 3
        fb = rng.choice(c.replicas).post("/v1/feedback", json={"model": "iris", "id": rid, "truth": truth})
        assert fb.status_code == 200, fb.text
        body = fb.json()
        assert body["unknown"] == 0, body
        forwarded += body.get("forwarded", 0)
        joined += body["joined"]
        predicted[rid] = (label, truth)
    assert forwarded > 0 and joined + forwarded == 60
    expected_correct = sum(1 for label, truth in predicted.values() if label == truth)

    def quality_everywhere():
        n = correct = 0
        for rep in c.replicas:
            q = rep.get("/v1/models/iris/versions/1/quality").json()
            n += q.get("n", 0)
            acc = q.get("accuracy")
            correct += round((acc or 0) * q.get("n", 0))
        return (n, correct) if n == 60 else None

    n, correct = wait_until(quality_everywhere, 10, "every forwarded item joined where its prediction was made")
    assert correct == expected_correct
