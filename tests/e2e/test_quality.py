"""Choosing by measured performance, parts 3 and 4: feedback joined to logged
predictions by request id, per-version live quality, and offline evaluations stored
in the registry. Every number the server reports is recomputed here from what it
answered (or from PyTorch running the same model files) and must match exactly."""
import json
import random
import re

import numpy as np
import pytest
import requests
import torch

from conftest import ROOT, find_model
from test_grpc import GrpcServer, raw_output, raw_request

LABELS = ["setosa", "versicolor", "virginica"]
META = {"labels": ",".join(LABELS)}


# --- helpers --------------------------------------------------------------------------

def holdout_csv(models_dir):
    """The held-out iris rows (make_example_models.py writes them), else all of iris."""
    for path in (models_dir / "iris_holdout.csv", ROOT / "examples" / "data" / "iris_holdout.csv",
                 ROOT / "examples" / "data" / "iris.csv"):
        if path.exists():
            return path
    raise FileNotFoundError("no iris CSV")


def read_csv(path):
    """(features float32 [n, 4], labels int [n]) the way the server reads them: text ->
    double -> FP32."""
    lines = [l for l in path.read_text().splitlines() if l.strip()]
    rows = [l.split(",") for l in lines[1:]]
    x = np.array([[float(v) for v in r[:-1]] for r in rows], dtype=np.float64).astype(np.float32)
    y = np.array([int(float(r[-1])) for r in rows], dtype=np.int64)
    return x, y


def scores(truth, pred, k):
    """accuracy, macro P/R/F1 and the confusion matrix with the server's definitions
    (quality_report.h), in the same order of floating-point operations."""
    conf = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(truth, pred):
        conf[int(t), int(p)] += 1
    n = len(truth)
    ps, rs, fs = [], [], []
    for c in range(k):
        tp, support, predicted = int(conf[c, c]), int(conf[c].sum()), int(conf[:, c].sum())
        p = tp / predicted if predicted else 0.0
        r = tp / support if support else 0.0
        f = 2 * p * r / (p + r) if p + r > 0 else 0.0
        if support or predicted:
            ps.append(p)
            rs.append(r)
            fs.append(f)
    return {"n": n, "accuracy": int(np.trace(conf)) / n, "macro_precision": sum(ps) / len(ps),
            "macro_recall": sum(rs) / len(rs), "macro_f1": sum(fs) / len(fs), "confusion": conf.tolist()}


def assert_classification(doc, expected):
    assert doc["task"] == "classification"
    for key in ("n", "accuracy", "macro_precision", "macro_recall", "macro_f1", "confusion"):
        assert doc[key] == expected[key], (key, doc[key], expected[key])
    assert [c["label"] for c in doc["per_class"]] == LABELS
    assert [c["support"] for c in doc["per_class"]] == [sum(row) for row in expected["confusion"]]


def torch_predict(models_dir, entry, x):
    module = torch.jit.load(str(models_dir / entry["path"]))
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def register(server, models_dir, entry, metadata=META, signature=True):
    return server.register("iris", models_dir / entry["path"], entry["framework"],
                           inputs=entry["inputs"] if signature else None,
                           outputs=entry["outputs"] if signature else None, metadata=metadata)["version"]


def metric_value(server, name, labels=""):
    text = server.get("/metrics").text
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


# --- feedback and live quality ----------------------------------------------------------

def test_feedback_joins_by_request_id_and_quality_matches_the_responses(server_factory, example_models):
    models_dir, manifest = example_models
    # A tiny log: the 200 early requests below are evicted by the 2,000 that follow.
    server = server_factory(extra_args=["--prediction-log-max-entries", "2000"])
    v1 = register(server, models_dir, find_model(manifest, "iris", "v1", "torchscript"))
    v2 = register(server, models_dir, find_model(manifest, "iris", "v2", "torchscript"))
    server.deploy("iris", {"versions": [{"version": v1}, {"version": v2}],
                           "traffic": [{"version": v1, "weight": 50}, {"version": v2, "weight": 50}]})

    x_all, y_all = read_csv(ROOT / "examples" / "data" / "iris.csv")
    rng = np.random.default_rng(11)

    def infer(session, rid, rows, via_header=False):
        x = x_all[rows] + rng.normal(scale=0.05, size=(len(rows), 4)).astype(np.float32)
        body = {"inputs": [{"name": "input", "shape": [len(rows), 4], "datatype": "FP32",
                            "data": x.flatten().tolist()}]}
        headers = {}
        if via_header:
            headers["x-request-id"] = rid
        else:
            body["id"] = rid
        r = session.post(server.url + "/v2/models/iris/infer", json=body, headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        out = r.json()["outputs"][0]
        pred = np.array(out["data"], dtype=np.float64).reshape(out["shape"]).argmax(axis=1)
        return int(r.headers["x-quiver-model-version"]), pred

    with requests.Session() as s:
        for i in range(200):
            infer(s, f"early-{i}", [i % 150])
        main = {}  # id -> (version, predictions, truths)
        for i in range(2000):
            rows = rng.integers(0, 150, size=5)
            version, pred = infer(s, f"req-{i}", rows, via_header=(i % 7 == 0))
            truth = y_all[rows].copy()
            flip = rng.random(5) < 0.1  # some labels disagree with the data
            truth[flip] = rng.integers(0, 3, size=int(flip.sum()))
            main[f"req-{i}"] = (version, pred, truth)
    assert {v for v, _, _ in main.values()} == {v1, v2}

    # Labels arrive shuffled, in batches, as class indices or as label names, with
    # rewards for some; mixed in: evicted ids (expired) and ids never seen (unknown).
    items = []
    rewards = {}
    for rid, (version, pred, truth) in main.items():
        as_names = int(rid.split("-")[1]) % 3 == 0
        item = {"id": rid, "truth": [LABELS[t] if as_names else int(t) for t in truth]}
        if int(rid.split("-")[1]) % 4 == 0:
            item["reward"] = float(np.mean(pred == truth))
            rewards[rid] = item["reward"]
        items.append(item)
    items += [{"id": f"early-{i}", "truth": 0} for i in range(0, 200, 2)]      # 100 expired
    items += [{"id": f"never-{i}", "truth": "setosa"} for i in range(50)]      # 50 unknown
    random.Random(5).shuffle(items)
    totals = {"joined": 0, "unknown": 0, "expired": 0, "duplicate": 0, "invalid": 0}
    for start in range(0, len(items), 250):
        r = server.post("/v1/feedback", json={"model": "iris", "items": items[start:start + 250]})
        assert r.status_code == 200, r.text
        for key in totals:
            totals[key] += r.json()[key]
    assert totals == {"joined": 2000, "unknown": 50, "expired": 100, "duplicate": 0, "invalid": 0}

    # Per version: exactly what the responses say.
    for version in (v1, v2):
        mine = [(pred, truth) for v, pred, truth in main.values() if v == version]
        truth = np.concatenate([t for _, t in mine])
        pred = np.concatenate([p for p, _ in mine])
        r = server.get(f"/v1/models/iris/versions/{version}/quality")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["version"] == version
        assert_classification(doc, scores(truth, pred, 3))
        assert doc["accuracy"] == float(np.mean(pred == truth))
        mine_rewards = [rewards[rid] for rid, (v, _, _) in main.items() if v == version and rid in rewards]
        assert doc["reward_n"] == len(mine_rewards)
        assert doc["mean_reward"] == pytest.approx(sum(mine_rewards) / len(mine_rewards), rel=1e-12)
        assert metric_value(server, "quiver_version_quality",
                            f'{{metric="accuracy",model="iris",version="{version}"}}') == pytest.approx(doc["accuracy"])

    # An alias names a version too.
    assert server.put(f"/v1/models/iris/aliases/candidate", json={"version": v2}).status_code == 200
    assert server.get("/v1/models/iris/versions/candidate/quality").json()["n"] == \
        server.get(f"/v1/models/iris/versions/{v2}/quality").json()["n"]

    # The same truth again changes nothing; a single-item body works too.
    r = server.post("/v1/feedback", json={"model": "iris", "items": items[:10]})
    assert r.json()["duplicate"] == sum(1 for it in items[:10] if it["id"].startswith("req-"))
    one = next(rid for rid in main if rid not in rewards)
    r = server.post("/v1/feedback", json={"model": "iris", "id": one, "reward": 1})
    assert r.status_code == 200 and r.json()["joined"] == 1, r.text

    resent_early = sum(1 for it in items[:10] if it["id"].startswith("early-"))
    resent_never = sum(1 for it in items[:10] if it["id"].startswith("never-"))
    assert metric_value(server, "quiver_feedback_total", '{result="joined"}') == 2001
    assert metric_value(server, "quiver_feedback_total", '{result="expired"}') == 100 + resent_early
    assert metric_value(server, "quiver_feedback_total", '{result="unknown"}') == 50 + resent_never
    assert metric_value(server, "quiver_prediction_log_evictions_total") == 200
    assert metric_value(server, "quiver_prediction_log_entries") == 2000


def test_feedback_errors(server, example_models):
    models_dir, manifest = example_models
    v1 = register(server, models_dir, find_model(manifest, "iris", "v1", "torchscript"))
    server.deploy("iris", {"versions": [{"version": v1}]})
    x = [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]
    assert server.post("/v2/models/iris/infer", json={"id": "two-rows", "inputs": x}).status_code == 200

    for body, needle in ((b"not json", "not valid JSON"), (b"[1, 2]", "must be an object"),
                         (b'{"items": {}}', "'items' must be an array"),
                         (b'{"model": "iris", "id": "two-rows"}', "needs 'truth' or 'reward'"),
                         (b'{"model": "iris", "id": "two-rows", "truth": 1}', "must be an array of 2 values"),
                         (b'{"model": "iris", "id": "two-rows", "truth": ["setosa", "rose"]}',
                          "'rose' is not one of the version's labels"),
                         (b'{"model": "iris", "id": "two-rows", "truth": [0, 7]}', "not a class of this model")):
        r = server.post("/v1/feedback", data=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.text)
        assert needle in r.json()["error"], (body, r.text)
    # Within "items", a malformed item is counted and explained; the rest still join.
    r = server.post("/v1/feedback", json={"items": [{"model": "iris", "id": "two-rows", "truth": [0, 2]},
                                                    {"id": "x", "truth": 0}]})
    assert r.status_code == 200, r.text
    assert r.json()["joined"] == 1 and r.json()["invalid"] == 1
    assert r.json()["errors"] == ["items[1]: 'model' is required"]

    assert server.get("/v1/models/iris/versions/9/quality").status_code == 404
    assert server.get("/v1/models/nope/versions/1/quality").status_code == 404


def test_grpc_requests_are_logged_by_id_or_x_request_id(tmp_path, pb, example_models):
    models_dir, manifest = example_models
    server = GrpcServer(tmp_path / "data").start().connect(pb)
    try:
        v1 = register(server, models_dir, find_model(manifest, "iris", "v1", "torchscript"))
        server.deploy("iris", {"versions": [{"version": v1}]})
        x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
        by_id, _ = server.call("ModelInfer", **raw_request(pb, x, id="g-1"))
        by_header, _ = server.call("ModelInfer", metadata=[("x-request-id", "g-2")], **raw_request(pb, x))
        pred = raw_output(by_id).argmax(axis=1)
        assert (raw_output(by_header).argmax(axis=1) == pred).all()
        truth = [int(pred[0]), (int(pred[1]) + 1) % 3]  # one right, one wrong
        r = server.post("/v1/feedback", json={"model": "iris", "items": [{"id": "g-1", "truth": truth},
                                                                         {"id": "g-2", "truth": truth}]})
        assert r.json()["joined"] == 2, r.text
        doc = server.get(f"/v1/models/iris/versions/{v1}/quality").json()
        assert doc["n"] == 4 and doc["accuracy"] == 0.5
    finally:
        server.channel.close()
        server.stop()


# --- offline evaluations ---------------------------------------------------------------

@pytest.fixture
def iris_versions(server, example_models):
    """v1 TorchScript (deployed), v2 TorchScript and v3 = v2 as ONNX registered without a
    signature (both evaluated on a temporary load)."""
    models_dir, manifest = example_models
    ts1 = find_model(manifest, "iris", "v1", "torchscript")
    ts2 = find_model(manifest, "iris", "v2", "torchscript")
    onnx2 = find_model(manifest, "iris", "v2", "onnx")
    assert register(server, models_dir, ts1) == 1
    assert register(server, models_dir, ts2) == 2
    assert register(server, models_dir, onnx2, signature=False) == 3
    server.deploy("iris", {"versions": [{"version": 1}]})
    return server, models_dir, {1: ts1, 2: ts2, 3: ts2}


def evaluate(server, version, dataset, label=None):
    body = {"dataset": dataset}
    if label is not None:
        body["label"] = label
    return server.post(f"/v1/models/iris/versions/{version}/evaluations", json=body)


def test_offline_evaluation_matches_pytorch_and_the_served_outputs(iris_versions):
    server, models_dir, reference = iris_versions
    csv_path = holdout_csv(models_dir)
    x, y = read_csv(csv_path)
    sha = server.upload(csv_path)

    reports = {}
    for version in (1, 2, 3):
        r = evaluate(server, version, sha)
        assert r.status_code == 201, r.text
        rep = r.json()
        reports[version] = rep
        assert rep["model"] == "iris" and rep["version"] == version and rep["dataset"] == sha
        assert rep["label"] == "species" and rep["rows"] == len(y) and rep["n"] == len(y) and rep["errors"] == 0
        assert isinstance(rep["id"], int) and rep["created_at"]
        assert rep["batches"] == (len(y) + 31) // 32
        assert set(rep["latency_ms"]) == {"p50", "p99", "mean"}
        assert 0 < rep["latency_ms"]["p50"] <= rep["latency_ms"]["p99"] and rep["duration_ms"] > 0

        scores_torch = torch_predict(models_dir, reference[version], x)
        expected = scores(y, scores_torch.argmax(axis=1), 3)
        if version == 3:
            # ONNX (OpenCV) and PyTorch agree to ~1e-6; only a near-tie could flip an arg-max.
            top2 = np.sort(scores_torch, axis=1)[:, -2:]
            assert np.all(top2[:, 1] - top2[:, 0] > 1e-4), "a near-tie makes the comparison ambiguous"
        assert_classification(rep["metrics"], expected)

    # v1 is deployed: the served outputs for the same 32-row batches say the same.
    served = []
    for start in range(0, len(y), 32):
        chunk = x[start:start + 32]
        r = server.infer("iris", [{"name": "input", "shape": list(chunk.shape), "datatype": "FP32",
                                   "data": chunk.flatten().tolist()}], version=1)
        out = r.json()["outputs"][0]
        served.append(np.array(out["data"], dtype=np.float64).reshape(out["shape"]).argmax(axis=1))
    assert_classification(reports[1]["metrics"], scores(y, np.concatenate(served), 3))
    # The versions really differ (v2 sees the sepals only).
    assert reports[1]["metrics"]["confusion"] != reports[2]["metrics"]["confusion"]
    assert reports[2]["metrics"] == reports[3]["metrics"]

    # The same rows as JSON lines with label names give the same report.
    lines = "".join(json.dumps({"features": [float(v) for v in row], "label": LABELS[t]}) + "\n"
                    for row, t in zip(x, y))
    r = evaluate(server, 1, server.upload(lines.encode()))
    assert r.status_code == 201, r.text
    assert r.json()["metrics"] == reports[1]["metrics"] and r.json()["label"] == "label"

    # Stored permanently, newest first.
    again = evaluate(server, 1, sha, label="species")
    assert again.status_code == 201
    listed = server.get("/v1/models/iris/versions/1/evaluations")
    assert listed.status_code == 200
    ids = [rep["id"] for rep in listed.json()]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    assert listed.json()[0] == again.json()
    assert listed.json()[2] == reports[1]
    assert [rep["id"] for rep in server.get("/v1/models/iris/versions/2/evaluations").json()] == [reports[2]["id"]]
    # Evaluation traffic is not live traffic: the deployed version's counters did not move.
    assert metric_value(server, "quiver_inference_requests_total", '{model="iris",version="1"}') == \
        (len(y) + 31) // 32
    audit = server.get("/v1/audit?model=iris").json()
    assert sum(1 for e in audit if e["action"] == "evaluation.create") == 5


def test_offline_evaluation_errors(iris_versions):
    server = iris_versions[0]
    good = server.upload(b"sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,0\n")

    def error(r, status):
        assert r.status_code == status, r.text
        return r.json()["error"]

    bad_number = server.upload(b"a,b,c,d,species\n5.1,3.5,1.4,0.2,0\n5.0,abc,1.4,0.2,1\n")
    assert "line 3, column 'b': 'abc' is not a number" in error(evaluate(server, 1, bad_number), 400)
    short_row = server.upload(b"a,b,c,d,species\n5.1,3.5,1.4,0.2,0\n5.0,1.4,0.2,1\n")
    assert "line 3: 4 fields, but the header has 5" in error(evaluate(server, 1, short_row), 400)
    bad_json = server.upload(b'{"features": [1, 2, 3, 4], "label": 0}\n{"features": [1, 2, 3, 4], "label": 0\n')
    assert "line 2: not valid JSON" in error(evaluate(server, 1, bad_json), 400)
    rose = server.upload(b"a,b,c,d,species\n5.1,3.5,1.4,0.2,setosa\n5.0,3.4,1.4,0.2,rose\n")
    assert "line 3, label 'rose'" in error(evaluate(server, 1, rose), 400)
    wide = server.upload(b"a,b,c,species\n5.1,3.5,1.4,0\n")  # 3 features for a 4-input model
    assert "every batch failed" in error(evaluate(server, 2, wide), 400)
    assert "label column 'kind' is not in the header" in error(evaluate(server, 1, good, label="kind"), 400)

    assert "not in the store" in error(evaluate(server, 1, "0" * 64), 404)
    assert error(evaluate(server, 9, good), 404)
    assert error(server.post("/v1/models/nope/versions/1/evaluations", json={"dataset": good}), 404)
    assert error(evaluate(server, 1, "xyz"), 400)
    assert error(server.post("/v1/models/iris/versions/1/evaluations", data=b"{"), 400)
    assert error(server.get("/v1/models/iris/versions/9/evaluations"), 404)
    # Nothing failed was stored; the one good run is.
    assert server.get("/v1/models/iris/versions/1/evaluations").json() == []
    r = evaluate(server, 1, good)
    assert r.status_code == 201 and r.json()["n"] == 1
