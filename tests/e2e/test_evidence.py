"""Bandit routing driven by real feedback, `compare` with an objective table, and the
objective's auto promote_best starting a rollout to the best version, against the real
binary."""
import random
import time

from conftest import ROOT, find_model

IRIS_IO = dict(inputs=[{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
               outputs=[{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}])
HOLDOUT = ROOT / "examples" / "data" / "iris_holdout.csv"


def register_iris(server, example_models):
    out, manifest = example_models
    for tag in ("v1", "v2"):
        entry = find_model(manifest, "iris", tag, "torchscript")
        server.register("iris", out / entry["path"], "torchscript", version=int(tag[1]),
                        metadata={"labels": "setosa,versicolor,virginica"}, **IRIS_IO)


def evaluate(server, version, sha):
    r = server.post(f"/v1/models/iris/versions/{version}/evaluations", json={"dataset": sha, "label": "species"})
    assert r.status_code == 201, r.text
    return r.json()


def test_bandit_moves_traffic_to_the_arm_with_the_better_reward(server, example_models):
    register_iris(server, example_models)
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "bandit": {"arms": [1, 2], "policy": "thompson", "warmup_per_arm": 20,
                                      "min_share": 0.05, "tick": "100ms"}})
    rng = random.Random(4)
    reward_rate = {"1": 0.2, "2": 0.8}
    served = []
    for i in range(1500):
        rid = f"b{i}"
        r = server.infer("iris", [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}],
                         headers={"x-request-id": rid})
        assert r.status_code == 200, r.text
        version = r.headers["x-quiver-model-version"]
        served.append(version)
        reward = 1.0 if rng.random() < reward_rate[version] else 0.0
        fb = server.post("/v1/feedback", json={"model": "iris", "id": rid, "reward": reward})
        assert fb.status_code == 200 and fb.json()["joined"] == 1, fb.text
    late = served[-500:]
    assert late.count("2") / len(late) > 0.7, (late.count("1"), late.count("2"))
    st = server.get("/v1/deployments/iris/bandit").json()
    shares = {a["version"]: a["share"] for a in st["arms"]}
    assert shares[2] > 0.7 and shares[1] >= 0.05 - 1e-9, st
    metrics = server.get("/metrics").text
    assert 'quiver_bandit_share{model="iris",version="2"}' in metrics


def test_compare_shows_quality_and_the_objective_table_within_the_budget(server, example_models):
    register_iris(server, example_models)
    sha = server.upload(HOLDOUT)
    e1, e2 = evaluate(server, 1, sha), evaluate(server, 2, sha)
    assert e1["metrics"]["accuracy"] > 0.95 > e2["metrics"]["accuracy"]
    # v1 is more accurate but asks for more instances than the budget allows.
    server.deploy("iris", {"versions": [{"version": 1, "instances": 2}, {"version": 2}],
                           "traffic": [{"version": 2, "weight": 100}],
                           "objective": {"weights": {"accuracy": 1}, "budget": {"max_instances": 1}}})
    doc = server.get("/v1/models/iris/compare").json()
    cols = {c["version"]: c for c in doc["versions"]}
    assert cols[1]["accuracy"] == e1["metrics"]["accuracy"] and cols[1]["accuracy_source"] == "evaluation"
    rows = {r["version"]: r for r in doc["objective"]["rows"]}
    assert rows[1]["score"] > rows[2]["score"] and not rows[1]["within_budget"]
    assert doc["objective"]["best"] == 2
    # Within budget, the more accurate version is best.
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 2, "weight": 100}],
                           "objective": {"weights": {"accuracy": 1}, "budget": {"max_instances": 1}}})
    assert server.get("/v1/models/iris/compare").json()["objective"]["best"] == 1
    r = server.put("/v1/deployments/iris", json={"versions": [{"version": 1}],
                                                 "objective": {"weights": {"latency": 1}}})
    assert r.status_code == 400 and "latency" in r.json()["error"], r.text


def test_objective_promote_best_starts_a_rollout_to_the_best_version(server_factory, example_models, tmp_path):
    server = server_factory(extra_args=["--objective-interval-ms", "200"])
    register_iris(server, example_models)
    sha = server.upload(HOLDOUT)
    evaluate(server, 1, sha)
    evaluate(server, 2, sha)
    # No wait for this revision to settle: the objective may replace it within 200 ms.
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 2, "weight": 100}],
                           "objective": {"weights": {"accuracy": 1}, "auto": "promote_best"}}, wait=False)
    deadline = time.time() + 15
    rollout = None
    while time.time() < deadline:
        r = server.get("/v1/deployments/iris/rollout")
        if r.status_code == 200:
            rollout = r.json()
            break
        time.sleep(0.1)
    assert rollout is not None, "no rollout started"
    assert rollout["baseline"] == 2 and rollout["candidate"] == 1, rollout
    audit = server.get("/v1/audit", params={"model": "iris"}).json()
    proposed = [e for e in audit if e["action"] == "objective.promote_best"]
    assert proposed and proposed[0]["detail"]["best"] == 1, proposed
