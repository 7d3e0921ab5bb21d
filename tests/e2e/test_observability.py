"""Logs and traces: the JSON access log, W3C traceparent in and out, log level and
format flags, and no tensors or secrets in any log."""
import json
import re
import time

import pytest
import requests

from conftest import Server, find_model

X = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -0.2, 0.1, 0.9]}]
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$")


def register_iris(server, example_models, tags=("v1", "v2")):
    models_dir, manifest = example_models
    for tag in tags:
        entry = find_model(manifest, "iris", tag, "torchscript")
        server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                        outputs=entry["outputs"])


def read_access_log(path, at_least, timeout=5):
    """The log's lines once at least `at_least` are there (the writer flushes every 200 ms)."""
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            if len(lines) >= at_least:
                return lines
        time.sleep(0.05)
    raise AssertionError(f"access log has {len(lines)} lines, wanted {at_least}: {lines}")


def test_access_log_has_one_json_line_per_request(server_factory, example_models, tmp_path):
    log_path = tmp_path / "access.jsonl"
    server = server_factory(extra_args=["--access-log", str(log_path)])
    register_iris(server, example_models)
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 50}, {"version": 2, "weight": 50}]})
    routed = server.infer("iris", X, headers={"traceparent": PARENT, "x-request-id": "order-17"})
    assert routed.status_code == 200
    pinned = server.infer("iris", X, version=2)
    assert pinned.status_code == 200
    missing = server.infer("nope", X)
    assert missing.status_code == 404
    assert server.get("/v2/models/iris").status_code == 200

    # Registration and deployment calls are logged too; ours are the last four lines
    # (each is written before its response leaves, so they come in request order).
    deadline = time.time() + 5
    while not read_access_log(log_path, 1)[-1]["path"] == "/v2/models/iris" and time.time() < deadline:
        time.sleep(0.05)
    lines = read_access_log(log_path, 4)[-4:]
    assert [l["path"] for l in lines] == ["/v2/models/iris/infer", "/v2/models/iris/versions/2/infer",
                                          "/v2/models/nope/infer", "/v2/models/iris"]
    a, b, c, d = lines
    # The routed request: joined the caller's trace, kept its request id, says who answered.
    assert a["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert a["request_id"] == "order-17"
    assert a["method"] == "POST" and a["kind"] == "infer" and a["route"] == "routed"
    assert a["model"] == "iris" and a["version"] == routed.headers["x-quiver-model-version"]
    assert a["status"] == 200
    assert a["bytes_in"] == len(routed.request.body) and a["bytes_out"] == len(routed.content)
    assert 0 <= a["latency_ms"] < 30000
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", a["time"])
    assert a["remote"].startswith("127.0.0.1:")
    # Its response carries the same trace, with the server's span as parent.
    m = TRACEPARENT.match(routed.headers["traceparent"])
    assert m and m.group(1) == a["trace_id"] and m.group(2) == a["span_id"] != "00f067aa0ba902b7"
    assert routed.headers["traceparent"].endswith("-01")  # the caller's sampled flag is kept

    assert b["route"] == "pinned" and b["version"] == "2" and b["status"] == 200
    assert b["trace_id"] != a["trace_id"]  # no traceparent: a trace of its own
    assert c["status"] == 404 and c["model"] == "nope" and "version" not in c
    assert d["kind"] == "metadata" and d["status"] == 200 and d["method"] == "GET"


def test_traceparent_is_validated_and_a_new_trace_starts_without_one(server):
    seen = set()
    for header in (None, "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
                   "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
                   "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff
                   "garbage"):
        r = server.get("/v2/health/live", headers={"traceparent": header} if header else {})
        assert r.status_code == 200
        m = TRACEPARENT.match(r.headers["traceparent"])
        assert m, r.headers["traceparent"]
        assert m.group(1) not in ("4bf92f3577b34da6a3ce929d0e0e4736", "0" * 32)
        seen.add(m.group(1))
    assert len(seen) == 5  # each request its own trace

    # A valid one is joined, whatever the flags; a later version's extra fields are ignored.
    r = server.get("/v2/health/live", headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"})
    m = TRACEPARENT.match(r.headers["traceparent"])
    assert m.group(1) == "0af7651916cd43dd8448eb211c80319c" and r.headers["traceparent"].endswith("-00")
    r = server.get("/v2/health/live",
                   headers={"traceparent": "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later"})
    assert TRACEPARENT.match(r.headers["traceparent"]).group(1) == "0af7651916cd43dd8448eb211c80319c"


def test_logs_never_contain_tensors_or_tokens(server_factory, example_models, tmp_path):
    log_path = tmp_path / "access.jsonl"
    server = server_factory(extra_args=["--access-log", str(log_path), "--log-level", "trace",
                                        "--log-format", "json"])
    register_iris(server, example_models, tags=("v1",))
    server.deploy("iris", {"versions": [{"version": 1}]})
    secret = "qv_0123abcd_5ec12e7f00ddba11deadbeefcafe0042"
    tensor = [0.7351982, -0.2468013, 0.9137246, 0.1357924]
    headers = {"Authorization": "Bearer " + secret, "Cookie": "session=c00k1e5ecret", "x-api-key": "k3y5ecret"}
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": tensor}]}
    assert server.post("/v2/models/iris/infer", json=body, headers=headers).status_code == 200
    # An invalid request whose error message might echo what it got.
    bad = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.8642097, "x", 1, 2]}]}
    assert server.post("/v2/models/iris/infer", json=bad, headers=headers).status_code == 400
    bad_shape = {"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [0.5791357, 0.1, 0.2]}]}
    assert server.post("/v2/models/iris/infer", json=bad_shape, headers=headers).status_code == 400
    # Secrets in a query string and in a path.
    assert server.get("/v2/models/iris?api_key=qu3ry5ecret", headers=headers).status_code == 200
    server.delete("/v1/tokens/" + secret, headers=headers)  # whatever the answer, the path is logged
    assert server.stop() == 0  # a clean stop writes out what the access log buffered
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]

    access_text = log_path.read_text()
    server_text = server.log_path.read_text()
    for text, where in ((access_text, "access log"), (server_text, "server log")):
        for needle in ("5ec12e7f00ddba11deadbeefcafe0042", "c00k1e5ecret", "k3y5ecret", "qu3ry5ecret",
                       "0.7351982", "-0.2468013", "0.9137246", "0.8642097", "0.5791357", "Bearer"):
            assert needle not in text, f"{needle!r} leaked into the {where}"
    assert any(l["path"] == "/v1/tokens/qv_0123abcd_<redacted>" for l in lines), lines
    # --log-format json: the server's own lines are JSON objects, none in the text format.
    # (Only third-party libraries writing to stderr themselves could add other lines.)
    assert not re.search(r"^\[\d{4}-", server_text, re.M), server_text[:2000]
    records = [json.loads(line) for line in server_text.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "msg"} <= set(r) for r in records)
    assert any(r["level"] == "info" for r in records)


def test_log_level_filters_and_bad_values_are_refused(server_factory, tmp_path):
    quiet = server_factory(data_dir=tmp_path / "quiet", extra_args=["--log-level", "warn"])
    assert quiet.get("/v2/health/ready").status_code == 200
    quiet.stop()
    text = quiet.log_path.read_text()
    assert "[info]" not in text and "draining" not in text, text  # info lines are filtered out

    chatty = server_factory(data_dir=tmp_path / "chatty", extra_args=["--log-level", "info"])
    chatty.stop()
    assert "[info]" in chatty.log_path.read_text()

    for args in (["--log-level", "verbose"], ["--log-format", "xml"]):
        with pytest.raises(RuntimeError):
            Server(tmp_path / ("bad" + args[1]), args).start(timeout=20)
