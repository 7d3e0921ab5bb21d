"""Tokens, roles, scopes, the bind policy, per-key rate limits and the tamper-evident
audit log, against the real binary (`quiver serve --auth`), over HTTP, gRPC and the CLI."""
import hashlib
import importlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import time

import grpc
import numpy as np
import pytest
import requests

from conftest import BINARY, ROOT, Server, find_model

GRPC_METHOD = "/inference.GRPCInferenceService/"
X = [[5.1, 3.5, 1.4, 0.2]]
INPUTS = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]


class AuthServer(Server):
    """A server whose helper calls carry `self.token` (the admin token by default)."""

    token = None

    def _auth(self, kw):
        headers = dict(kw.pop("headers", None) or {})
        if self.token and not any(k.lower() == "authorization" for k in headers):
            headers["Authorization"] = "Bearer " + self.token
        kw["headers"] = headers
        return kw

    def get(self, path, **kw):
        return super().get(path, **self._auth(kw))

    def post(self, path, **kw):
        return super().post(path, **self._auth(kw))

    def put(self, path, **kw):
        return super().put(path, **self._auth(kw))

    def delete(self, path, **kw):
        return super().delete(path, **self._auth(kw))

    def admin_token(self):
        return (self.data_dir / "admin.token").read_text().strip()

    def raw(self, method, path, token=None, **kw):
        """One request with exactly the given token (None: no Authorization header)."""
        headers = dict(kw.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def make_token(self, role, models=None, expires_in=None):
        body = {"role": role}
        if models is not None:
            body["models"] = models
        if expires_in is not None:
            body["expires_in"] = expires_in
        r = self.post("/v1/tokens", json=body)
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
def auth_factory(tmp_path):
    started = []

    def make(name="data", extra_args=()):
        s = AuthServer(tmp_path / name, ["--auth", *extra_args]).start()
        s.token = s.admin_token()
        started.append(s)
        return s

    yield make
    for s in started:
        if s.proc and s.proc.poll() is None:
            s.stop()


def bearer(token):
    return {"Authorization": "Bearer " + token}


def deploy_iris(server, example_models, access=None):
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                    outputs=entry["outputs"])
    spec = {"versions": [{"version": 1}]}
    if access:
        spec["access"] = {"inference": access}
    server.deploy("iris", spec)


def quiver(server, *args, token=None):
    env = {k: v for k, v in os.environ.items() if k != "QUIVER_TOKEN"}
    env["QUIVER_SERVER"] = server.url
    if token:
        env["QUIVER_TOKEN"] = token
    return subprocess.run([str(BINARY), *map(str, args)], env=env, capture_output=True, text=True, timeout=60)


# --- first start, defaults, bind policy --------------------------------------------------


def test_first_start_writes_a_private_admin_token_once(auth_factory):
    server = auth_factory()
    path = server.data_dir / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    assert token.startswith("qv_") and len(token) == 3 + 16 + 1 + 64
    assert token not in (server.log_path.read_text())  # the log names the file, never the token

    r = server.raw("GET", "/v1/tokens")
    assert r.status_code == 401 and "missing token" in r.json()["error"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    keys = server.raw("GET", "/v1/tokens", token).json()
    assert [k["role"] for k in keys] == ["admin"] and keys[0]["state"] == "active"
    assert "token" not in keys[0] and all("hash" not in k and "salt" not in k for k in keys)
    # Health stays public, for probes and load balancers.
    assert server.raw("GET", "/v2/health/live").status_code == 200
    assert server.raw("GET", "/v2/health/ready").status_code == 200

    # A restart does not write another token: the first still works.
    mtime = path.stat().st_mtime_ns
    server.stop()
    server.start()
    assert path.stat().st_mtime_ns == mtime
    assert server.raw("GET", "/v1/tokens", token).status_code == 200


def start_raw(tmp_path, *args):
    return subprocess.Popen([str(BINARY), "serve", "--http-port", "0", "--grpc-port", "0",
                             "--data-dir", str(tmp_path / "raw"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_binds_loopback_by_default_and_refuses_open_addresses_without_auth(tmp_path):
    proc = start_raw(tmp_path)
    try:
        line = proc.stdout.readline()
        assert "http=127.0.0.1:" in line and "grpc=127.0.0.1:" in line, line
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    proc = start_raw(tmp_path, "--host", "0.0.0.0")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "refusing to serve HTTP and gRPC on 0.0.0.0 without authentication" in err
    assert "--auth" in err and "--insecure-no-auth" in err

    for extra in (["--insecure-no-auth"], ["--auth"]):
        proc = start_raw(tmp_path, "--host", "0.0.0.0", *extra)
        try:
            line = proc.stdout.readline()
            assert line.startswith("quiver listening http=0.0.0.0:"), (extra, line, proc.stderr.read())
        finally:
            proc.terminate()
            proc.wait(timeout=30)


# --- every management route ----------------------------------------------------------------

# (method, path, body, a role that may, a role that may not, names a model)
SHA = "0" * 64
ROUTES = [
    ("POST", "/v1/blobs", b"x", "publisher", "deployer", False),
    ("HEAD", f"/v1/blobs/{SHA}", None, "publisher", "reader", False),
    ("GET", f"/v1/blobs/{SHA}", None, "publisher", "reader", False),
    ("POST", "/v1/models/iris/versions", {"artifact": SHA, "framework": "onnx"}, "publisher", "deployer", True),
    ("GET", "/v1/models", None, "reader", "infer", False),
    ("GET", "/v1/models/iris", None, "reader", "infer", True),
    ("GET", "/v1/models/iris/versions/1", None, "reader", "infer", True),
    ("PUT", "/v1/models/iris/aliases/beta", {"version": 1}, "deployer", "publisher", True),
    ("DELETE", "/v1/models/iris/aliases/beta", None, "deployer", "reader", True),
    ("GET", "/v1/deployments", None, "reader", "infer", False),
    ("PUT", "/v1/deployments/iris", {"versions": [{"version": 1}]}, "deployer", "publisher", True),
    ("GET", "/v1/deployments/iris", None, "reader", "infer", True),
    ("GET", "/v1/deployments/iris/history", None, "reader", "infer", True),
    ("POST", "/v1/deployments/iris/rollback", {}, "deployer", "reader", True),
    ("GET", "/v1/deployments/iris/rollout", None, "reader", "infer", True),
    ("POST", "/v1/deployments/iris/rollout/pause", {}, "deployer", "publisher", True),
    ("GET", "/v1/deployments/iris/bandit", None, "reader", "infer", True),
    ("DELETE", "/v1/deployments/iris", None, "deployer", "reader", True),
    ("POST", "/v1/feedback", {"model": "iris", "id": "x", "truth": 0}, "infer", "reader", False),
    ("GET", "/v1/models/iris/compare?versions=1", None, "reader", "infer", True),
    ("GET", "/v1/models/iris/versions/1/quality", None, "reader", "infer", True),
    ("POST", "/v1/models/iris/versions/1/evaluations", {"dataset": SHA, "label": "y"}, "publisher", "reader", True),
    ("GET", "/v1/models/iris/versions/1/evaluations", None, "reader", "infer", True),
    ("POST", "/v1/tokens", {"role": "reader"}, "admin", "deployer", False),
    ("GET", "/v1/tokens", None, "admin", "reader", False),
    ("DELETE", "/v1/tokens/0000000000000000", None, "admin", "deployer", False),
    ("GET", "/v1/audit", None, "admin", "reader", False),
    ("GET", "/v1/audit/verify", None, "admin", "deployer", False),
    ("GET", "/metrics", None, "reader", "infer", False),
    ("GET", "/v1/models/iris/policy", None, "reader", "infer", True),
    ("PUT", "/v1/models/iris/policy", {"require_signature": False}, "admin", "deployer", False),
    ("GET", "/v1/trusted-keys", None, "reader", "infer", False),
    ("GET", "/v1/backup", None, "admin", "deployer", False),
]


def send(server, route, token):
    method, path, body, *_ = route
    kw = {}
    if isinstance(body, bytes):
        kw["data"] = body
    elif body is not None:
        kw["json"] = body
    return server.raw(method, path, token, **kw)


def refused(r, code, *needles):
    assert r.status_code == code, (r.request.method, r.request.url, r.status_code, r.text)
    if r.request.method != "HEAD":
        message = r.json()["error"]
        for needle in needles:
            assert needle in message, (r.request.method, r.request.url, message)


def test_every_management_route_refuses_missing_wrong_expired_revoked_and_out_of_scope_tokens(auth_factory):
    server = auth_factory()
    roles = {role: server.make_token(role)["token"] for role in ("deployer", "publisher", "reader", "infer")}
    roles["admin"] = server.token
    scoped = {role: server.make_token(role, models=["other-*"])["token"]
              for role in ("deployer", "publisher", "reader", "infer")}
    expiring = server.make_token("admin", expires_in="1s")
    revoked = server.make_token("admin")
    assert server.delete(f"/v1/tokens/{revoked['id']}").status_code == 200
    wrong_secret = roles["reader"][:-8] + ("0" * 8 if not roles["reader"].endswith("0" * 8) else "1" * 8)
    time.sleep(1.2)  # let the 1 s token expire

    for route in ROUTES:
        method, path, body, may, may_not, names_model = route
        refused(send(server, route, None), 401, "missing token")
        refused(send(server, route, "qv_nonsense"), 401, "malformed token")
        refused(send(server, route, wrong_secret), 401, "does not match")
        refused(send(server, route, expiring["token"]), 401, "expired at")
        refused(send(server, route, revoked["token"]), 401, "was revoked")
        key_id = roles[may_not].split("_")[1]
        refused(send(server, route, roles[may_not]), 403, f"token {key_id} (role {may_not}) may not", "needs role")
        if names_model and may != "admin":
            refused(send(server, route, scoped[may]), 403, "model 'iris'", "outside the token's model scope")
        allowed = send(server, route, roles[may])
        assert allowed.status_code not in (401, 403), (method, path, may, allowed.status_code, allowed.text)


def test_revocation_takes_effect_within_a_second_and_overlapping_keys_rotate(auth_factory):
    server = auth_factory()
    old = server.make_token("deployer")
    new = server.make_token("deployer")
    for t in (old, new):
        assert server.raw("GET", "/v1/deployments", t["token"]).status_code == 200
    revoked_at = time.time()
    assert server.delete(f"/v1/tokens/{old['id']}").json()["state"] == "revoked"
    while server.raw("GET", "/v1/deployments", old["token"]).status_code != 401:
        assert time.time() - revoked_at < 1.0, "revocation took longer than 1 s"
        time.sleep(0.02)
    assert server.raw("GET", "/v1/deployments", new["token"]).status_code == 200
    listed = {k["id"]: k for k in server.get("/v1/tokens").json()}
    assert listed[old["id"]]["state"] == "revoked" and listed[new["id"]]["state"] == "active"


def test_scoped_feedback_and_admin_tokens_cannot_be_scoped(auth_factory):
    server = auth_factory()
    infer = server.make_token("infer", models=["iris"])["token"]
    r = server.raw("POST", "/v1/feedback", infer, json={"items": [{"model": "iris", "id": "a", "truth": 0},
                                                                 {"model": "fraud", "id": "b", "truth": 1}]})
    refused(r, 403, "model 'fraud'", "outside the token's model scope")
    r = server.post("/v1/tokens", json={"role": "admin", "models": ["iris"]})
    assert r.status_code == 400 and "cannot be scoped" in r.json()["error"]
    r = server.post("/v1/tokens", json={"role": "root"})
    assert r.status_code == 400 and "unknown role" in r.json()["error"]
    r = server.post("/v1/tokens", json={"role": "reader", "expires_in": "soon"})
    assert r.status_code == 400 and "duration" in r.json()["error"]


# --- inference: public or token-only, per server and per model -----------------------------


def test_inference_is_token_only_by_default_and_public_per_model(auth_factory, example_models):
    server = auth_factory()
    deploy_iris(server, example_models)
    infer = server.make_token("infer", models=["iris"])["token"]
    path = "/v2/models/iris/infer"
    refused(server.raw("POST", path, json={"inputs": INPUTS}), 401, "missing token", "run inference")
    ok = server.raw("POST", path, infer, json={"inputs": INPUTS})
    assert ok.status_code == 200, ok.text
    assert server.raw("GET", "/v2/models/iris", infer).status_code == 200
    refused(server.raw("GET", "/v2/models/iris"), 401)
    reader = server.make_token("reader")["token"]
    refused(server.raw("POST", path, reader, json={"inputs": INPUTS}), 403, "may not run inference")
    # Lists show a scoped token its own models only.
    elsewhere = server.make_token("reader", models=["fraud-*"])["token"]
    assert [m["name"] for m in server.raw("GET", "/v1/models", reader).json()] == ["iris"]
    assert server.raw("GET", "/v1/models", elsewhere).json() == []
    assert len(server.raw("GET", "/v1/deployments", reader).json()) == 1
    assert server.raw("GET", "/v1/deployments", elsewhere).json() == []

    # One model opened to everyone by its deployment.
    spec = {"versions": [{"version": 1}], "access": {"inference": "public"}}
    revision = server.put("/v1/deployments/iris", json=spec).json()["revision"]
    server.wait_deployment("iris", revision)
    assert server.raw("POST", path, json={"inputs": INPUTS}).status_code == 200
    assert server.raw("GET", "/v2/models/iris").status_code == 200
    assert server.get("/v1/deployments/iris").json()["access"] == {"inference": "public"}
    # Management stays closed.
    refused(server.raw("GET", "/v1/deployments/iris"), 401)
    bad = server.put("/v1/deployments/iris", json={"versions": [{"version": 1}], "access": {"inference": "open"}})
    assert bad.status_code == 400 and "access.inference" in bad.json()["error"]


def test_public_inference_server_with_a_token_only_model(auth_factory, example_models):
    server = auth_factory(extra_args=["--public-inference"])
    deploy_iris(server, example_models)
    path = "/v2/models/iris/infer"
    assert server.raw("POST", path, json={"inputs": INPUTS}).status_code == 200
    refused(server.raw("POST", path, "qv_bad", json={"inputs": INPUTS}), 401)  # a bad token is still refused
    revision = server.put("/v1/deployments/iris", json={"versions": [{"version": 1}],
                                                        "access": {"inference": "token"}}).json()["revision"]
    server.wait_deployment("iris", revision)
    refused(server.raw("POST", path, json={"inputs": INPUTS}), 401)
    infer = server.make_token("infer")["token"]
    assert server.raw("POST", path, infer, json={"inputs": INPUTS}).status_code == 200




def test_grpc_with_and_without_the_bearer_token(auth_factory, example_models, pb):
    server = auth_factory()
    deploy_iris(server, example_models)
    infer = server.make_token("infer")["token"]
    other = server.make_token("infer", models=["fraud-*"])["token"]
    channel = grpc.insecure_channel(server.grpc_target)
    try:
        call = channel.unary_unary(GRPC_METHOD + "ModelInfer", request_serializer=pb.ModelInferRequest.SerializeToString,
                                   response_deserializer=pb.ModelInferResponse.FromString)
        live = channel.unary_unary(GRPC_METHOD + "ServerLive", request_serializer=pb.ServerLiveRequest.SerializeToString,
                                   response_deserializer=pb.ServerLiveResponse.FromString)
        x = np.array(X, dtype=np.float32)
        tensor = pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32", shape=list(x.shape))
        request = pb.ModelInferRequest(model_name="iris", inputs=[tensor], raw_input_contents=[x.tobytes()])
        assert live(pb.ServerLiveRequest(), timeout=30).live  # health needs no token

        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED and "missing token" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:
            call(request, metadata=[("authorization", "Bearer " + other)], timeout=30)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED and "model 'iris'" in info.value.details()
        response = call(request, metadata=[("authorization", "Bearer " + infer)], timeout=30)
        assert response.model_name == "iris" and len(response.raw_output_contents) == 1
    finally:
        channel.close()


# --- per-key rate limit ----------------------------------------------------------------------


def test_per_key_rate_limit_answers_429(auth_factory):
    server = auth_factory(extra_args=["--rate-limit", "1", "--rate-burst", "3"])
    reader = server.make_token("reader")["token"]
    other = server.make_token("reader")["token"]
    codes = [server.raw("GET", "/v1/models", reader).status_code for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
    limited = server.raw("GET", "/v1/models", reader)
    if limited.status_code == 429:
        assert limited.headers["Retry-After"] == "1"
        assert "rate limit of 1 requests/s (burst 3)" in limited.json()["error"]
    assert server.raw("GET", "/v1/models", other).status_code == 200  # buckets are per key
    time.sleep(1.1)
    assert server.raw("GET", "/v1/models", reader).status_code == 200


# --- audit: every management call, hash-chained ------------------------------------------------


def canonical(row):
    fields = [str(row["id"]), row["at"], row["kind"], row["model"], row["action"], row["client"], row["reason"],
              row["detail_json"], row["actor_key"], row["actor_role"], row["source"], row["tls_identity"],
              row["resource"], row["request_id"], row["decision"], str(row["status"]), str(row["latency_us"])]
    return b"".join(str(len(f.encode())).encode() + b":" + f.encode() for f in fields)


def test_audit_records_every_management_call_and_verify_finds_a_tampered_row(auth_factory, example_models):
    server = auth_factory()
    deploy_iris(server, example_models)
    reader = server.make_token("reader")
    refused(server.raw("PUT", "/v1/deployments/iris", reader["token"], json={"versions": [{"version": 1}]},
                       headers={"x-request-id": "req-denied-1"}), 403)
    refused(server.raw("GET", "/v1/models"), 401)
    assert server.raw("GET", "/v1/models", reader["token"]).status_code == 200

    verified = server.get("/v1/audit/verify").json()
    assert verified["ok"] is True and verified["records"] > 5 and len(verified["head"]) == 64

    time.sleep(0.3)  # access records are written by a background thread
    access = server.get("/v1/audit", params={"kind": "access", "limit": 200}).json()
    denied = [a for a in access if a["request_id"] == "req-denied-1"]
    assert len(denied) == 1, access[:5]
    d = denied[0]
    assert (d["decision"], d["status"], d["actor_key"], d["actor_role"], d["model"]) == (
        "deny", 403, reader["id"], "reader", "iris")
    assert d["action"] == "PUT /v1/deployments/{model}" and d["resource"] == "/v1/deployments/iris"
    assert d["source"].startswith("127.0.0.1:") and "may not" in d["reason"] and d["latency_ms"] >= 0
    assert "tls_identity" in d
    anonymous = [a for a in access if a["status"] == 401 and a["resource"] == "/v1/models"]
    assert anonymous and anonymous[0]["actor_key"] == "" and anonymous[0]["decision"] == "deny"
    assert any(a["decision"] == "allow" and a["actor_key"] == reader["id"] and a["status"] == 200 for a in access)
    # Changes made through the API name the token that made them.
    changes = server.get("/v1/audit", params={"model": "iris"}).json()
    admin_id = server.token.split("_")[1]
    assert any(c["action"] == "deployment.apply" and f"token {admin_id} (role admin)" in c["client"] for c in changes)
    # A whole token pasted where a key id belongs is refused without repeating it.
    pasted = server.delete(f"/v1/tokens/{reader['token']}")
    assert pasted.status_code == 400 and reader["token"] not in pasted.text
    time.sleep(0.3)
    # No secret anywhere in the log.
    everything = server.get("/v1/audit", params={"kind": "all", "limit": 10000}).text
    for token in (server.token, reader["token"]):
        assert token.split("_")[2] not in everything

    # CLI: intact.
    ok = quiver(server, "audit", "verify", token=server.token)
    assert ok.returncode == 0 and "audit log intact" in ok.stdout, ok.stderr

    # The chain can be recomputed by anyone from the file.
    server.stop()
    db = sqlite3.connect(server.data_dir / "registry.db")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM audit_log ORDER BY id").fetchall()
    prev = ""
    for row in rows:
        assert row["prev_hash"] == prev
        assert row["hash"] == hashlib.sha256(prev.encode() + canonical(row)).hexdigest()
        prev = row["hash"]
    # Someone edits one row behind the server's back.
    target = rows[len(rows) // 2]["id"]
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("UPDATE audit_log SET reason = 'nothing to see here' WHERE id = ?", (target,))
    db.commit()
    db.close()

    server.start()
    broken = server.get("/v1/audit/verify").json()
    assert broken["ok"] is False and broken["first_broken"] == target, broken
    bad = quiver(server, "audit", "verify", token=server.token)
    assert bad.returncode == 1 and f"audit log broken at record {target}" in bad.stderr, (bad.stdout, bad.stderr)


# --- the CLI --------------------------------------------------------------------------------------


def test_cli_token_create_list_revoke(auth_factory):
    server = auth_factory()
    created = quiver(server, "token", "create", "--role", "reader", "--models", "iris,fraud-*", "--expires-in",
                     "90d", "-q", token=server.token)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("qv_")
    key_id = token.split("_")[1]

    listed = quiver(server, "token", "list", token=server.token)
    assert listed.returncode == 0 and key_id in listed.stdout and "iris,fraud-*" in listed.stdout
    assert token.split("_")[2] not in listed.stdout

    assert quiver(server, "models", token=token).returncode == 0
    assert quiver(server, "models", "--token", token).returncode == 0
    denied = quiver(server, "token", "list", token=token)
    assert denied.returncode == 1 and "may not manage tokens" in denied.stderr
    missing = quiver(server, "models")
    assert missing.returncode == 1 and "missing token" in missing.stderr

    revoked = quiver(server, "token", "revoke", token, token=server.token)  # a pasted token names its key
    assert revoked.returncode == 0 and f"revoked token {key_id}" in revoked.stdout
    after = quiver(server, "models", token=token)
    assert after.returncode == 1 and "was revoked" in after.stderr
