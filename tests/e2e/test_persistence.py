"""What was registered and deployed survives a restart, clean (SIGTERM) or not (kill -9),
and a crash in the middle of an upload or a deployment change leaves no half state."""
import hashlib
import json
import random
import socket
import time
import urllib.parse

import numpy as np
import pytest
import requests

from conftest import find_model

BLOB_SIZE = 50 * 1024 * 1024


def host_port(server):
    parsed = urllib.parse.urlparse(server.url)
    return parsed.hostname, parsed.port


def wait_until(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def restart(server, server_factory, how):
    if how == "sigterm":
        assert server.stop() == 0, "a clean shutdown exits with code 0"
    else:
        server.kill9()
    return server_factory(data_dir=server.data_dir)


def deployment_spec(deployment):
    """The desired part of GET /v1/deployments/{m}: everything but the live status."""
    return {k: v for k, v in deployment.items() if k != "status"}


def batch(rows, seed):
    x = np.random.default_rng(seed).normal(size=(rows, 4)).astype(np.float32)
    return [{"name": "input", "shape": [rows, 4], "datatype": "FP32", "data": x.flatten().tolist()}]


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_registry_blobs_and_deployment_come_back_after_restart(server_factory, example_models, how):
    models_dir, manifest = example_models
    server = server_factory()
    ts_v1 = find_model(manifest, "iris", "v1", "torchscript")
    onnx_v2 = find_model(manifest, "iris", "v2", "onnx")
    server.register("iris", models_dir / ts_v1["path"], "torchscript", inputs=ts_v1["inputs"],
                    outputs=ts_v1["outputs"], description="first", metadata={"owner": "ml"})
    server.register("iris", models_dir / onnx_v2["path"], "onnx")
    assert server.put("/v1/models/iris/aliases/stable", json={"version": 1}).status_code == 200
    server.deploy("iris", {"versions": [{"version": "stable"}]})
    spec = {"versions": [{"version": "stable"}, {"version": "2", "instances": 2}],
            "traffic": [{"version": "stable", "weight": 80}, {"version": "2", "weight": 20}],
            "sticky": {"header": "x-user-id"}}
    server.deploy("iris", spec)

    inputs = batch(5, seed=11)
    outputs = {}
    for version in (1, 2):
        r = server.infer("iris", inputs, version=version)
        assert r.status_code == 200, r.text
        outputs[version] = r.json()["outputs"]
    assert outputs[1] != outputs[2]
    sticky_version = server.infer("iris", inputs, headers={"x-user-id": "user-42"}).headers["x-quiver-model-version"]

    models = server.get("/v1/models").json()
    records = {v: server.get(f"/v1/models/iris/versions/{v}").json() for v in (1, 2)}
    deployment = deployment_spec(server.get("/v1/deployments/iris").json())
    history = server.get("/v1/deployments/iris/history").json()
    audit = server.get("/v1/audit", params={"model": "iris"}).json()
    blobs = {records[v]["artifact"]: (models_dir / entry["path"]).read_bytes()
             for v, entry in ((1, ts_v1), (2, onnx_v2))}
    assert deployment["revision"] == 2 and len(history) == 2

    server = restart(server, server_factory, how)

    # Nothing is re-registered or re-applied: everything below was read back from disk.
    assert server.get("/v1/models").json() == models
    assert models == [{"name": "iris", "versions": [1, 2], "aliases": {"stable": 1}}]
    for v in (1, 2):
        after = server.get(f"/v1/models/iris/versions/{v}").json()
        assert {k: x for k, x in after.items() if k != "state"} == {k: x for k, x in records[v].items() if k != "state"}
    assert records[1]["description"] == "first" and records[1]["metadata"] == {"owner": "ml"}
    for sha, data in blobs.items():
        head = requests.head(server.url + f"/v1/blobs/{sha}", timeout=10)
        assert head.status_code == 200
        got = server.get(f"/v1/blobs/{sha}")
        assert got.status_code == 200 and got.content == data
    assert deployment_spec(server.get("/v1/deployments/iris").json()) == deployment
    assert server.get("/v1/deployments/iris/history").json() == history
    audit_after = server.get("/v1/audit", params={"model": "iris"}).json()
    assert len(audit) >= 5  # version x2, alias, deployment x2
    assert [e for e in audit_after if e["id"] in {a["id"] for a in audit}] == audit

    server.wait_deployment("iris", deployment["revision"], timeout=60)
    for version in (1, 2):
        r = server.infer("iris", inputs, version=version)
        assert r.status_code == 200, r.text
        assert r.headers["x-quiver-model-version"] == str(version)
        got = r.json()["outputs"]
        assert got[0]["shape"] == outputs[version][0]["shape"]
        np.testing.assert_allclose(got[0]["data"], outputs[version][0]["data"], atol=1e-6, rtol=0)
    r = server.infer("iris", inputs, version="stable")
    assert r.status_code == 200 and r.headers["x-quiver-model-version"] == "1"
    # Sticky routing hashes the same way after a restart.
    r = server.infer("iris", inputs, headers={"x-user-id": "user-42"})
    assert r.status_code == 200 and r.headers["x-quiver-model-version"] == sticky_version


def test_blob_head_answers_like_get_without_the_body(server):
    data = random.Random(3).randbytes(12345)
    sha = server.upload(data)
    head = requests.head(server.url + f"/v1/blobs/{sha}", timeout=10)
    assert head.status_code == 200 and head.content == b""
    # RFC 9110 8.6: a Content-Length on HEAD must be the size GET would send.
    assert head.headers.get("Content-Length", str(len(data))) == str(len(data)), head.headers
    get = server.get(f"/v1/blobs/{sha}")
    assert get.status_code == 200 and get.content == data
    missing = requests.head(server.url + "/v1/blobs/" + "ab" * 32, timeout=10)
    assert missing.status_code == 404
    assert server.get("/v1/blobs/" + "ab" * 32).status_code == 404
    assert server.get("/v1/blobs/not-a-sha").status_code in (400, 404)


def blob_files(data_dir):
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_kill9_during_blob_upload_leaves_no_partial_blob(server_factory):
    server = server_factory()
    data_dir = server.data_dir
    payload = random.Random(99).randbytes(BLOB_SIZE)
    full_sha = hashlib.sha256(payload).hexdigest()
    partial = payload[:10 * 1024 * 1024]
    partial_sha = hashlib.sha256(partial).hexdigest()
    small_sha = server.upload(b"already stored before the crash")

    host, port = host_port(server)
    sock = socket.create_connection((host, port), timeout=30)
    try:
        sock.sendall((f"POST /v1/blobs HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      f"Content-Type: application/octet-stream\r\nContent-Length: {BLOB_SIZE}\r\n\r\n").encode())
        sock.sendall(partial)
        # The server has streamed part of the body to disk: the upload is really in progress.
        wait_until(lambda: sum(p.stat().st_size for p in (data_dir / "tmp").rglob("*") if p.is_file()) > 0,
                   what="the upload to reach the data directory")
        server.kill9()
    finally:
        sock.close()

    server = server_factory(data_dir=data_dir)
    files = blob_files(data_dir)
    assert files, "the blob stored before the crash is gone"
    for path in files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name, f"{path} holds other bytes than its name"
    assert {p.name for p in files} == {small_sha}
    assert list((data_dir / "tmp").iterdir()) == []
    for sha in (full_sha, partial_sha):
        assert server.get(f"/v1/blobs/{sha}").status_code == 404
    assert server.get(f"/v1/blobs/{small_sha}").content == b"already stored before the crash"

    r = server.post("/v1/blobs", data=payload, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code in (200, 201), r.text
    assert r.json() == {"sha256": full_sha, "size": BLOB_SIZE}
    got = server.get(f"/v1/blobs/{full_sha}")
    assert got.status_code == 200 and len(got.content) == BLOB_SIZE
    assert hashlib.sha256(got.content).hexdigest() == full_sha
    assert list((data_dir / "tmp").iterdir()) == []


def send_without_waiting(server, method, path, body):
    """Writes a whole request and returns the open socket without reading the answer."""
    host, port = host_port(server)
    data = json.dumps(body).encode()
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall((f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
    return sock


def test_kill9_during_a_deployment_change_restores_one_consistent_revision(server_factory, example_models):
    models_dir, manifest = example_models
    server = server_factory()
    for tag in ("v1", "v2"):
        entry = find_model(manifest, "iris", tag, "torchscript")
        server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                        outputs=entry["outputs"])
    server.deploy("iris", {"versions": [{"version": "1"}]})
    inputs = batch(1, seed=5)
    outcomes = set()
    # Kill at different moments of the change: right after sending, and a little later.
    for attempt, delay in enumerate((0.0, 0.0, 0.002, 0.01, 0.05)):
        before = server.get("/v1/deployments/iris").json()
        old_version = before["versions"][0]["resolved_version"]
        new_version = 3 - old_version
        new_spec = {"versions": [{"version": str(new_version)}]}
        sock = send_without_waiting(server, "PUT", "/v1/deployments/iris", new_spec)
        if delay:
            time.sleep(delay)
        server.kill9()
        sock.close()
        server = server_factory(data_dir=server.data_dir)

        deployment = server.get("/v1/deployments/iris").json()
        history = server.get("/v1/deployments/iris/history").json()
        revision = deployment["revision"]
        assert revision in (before["revision"], before["revision"] + 1), (before, deployment)
        assert history[0]["revision"] == revision, history
        assert len(history) == revision
        served = old_version if revision == before["revision"] else new_version
        outcomes.add("old" if served == old_version else "new")
        assert [v["resolved_version"] for v in deployment["versions"]] == [served], deployment
        server.wait_deployment("iris", revision, timeout=60)
        for _ in range(3):
            r = server.infer("iris", inputs)
            assert r.status_code == 200, r.text
            assert r.headers["x-quiver-model-version"] == str(served), (attempt, deployment)
        assert server.infer("iris", inputs, version=served).status_code == 200
        assert server.infer("iris", inputs, version=3 - served).status_code == 404
        assert server.get("/v2/health/ready").json() == {"ready": True}
    # Report which outcomes the timing produced; both are correct, a mixture is not.
    print("outcomes seen:", sorted(outcomes))
