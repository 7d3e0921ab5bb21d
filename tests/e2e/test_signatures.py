"""Signed artifacts, made exactly as a user makes them: keys from `openssl ecparam`,
signatures from `openssl dgst -sha256 -sign key.pem ARTIFACT`, pushed through the REST
API and through `quiver push --sign`. The server trusts the public keys in
--trusted-keys and refuses, with a message that says why, what the policy forbids."""
import base64
import hashlib
import os
import shutil
import subprocess
import types

import pytest

from conftest import BINARY, Server, find_model

ROW = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]


def openssl(*args):
    return subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True).stdout


def sign(key, artifact):
    """base64 of `openssl dgst -sha256 -sign KEY ARTIFACT`."""
    return base64.b64encode(openssl("dgst", "-sha256", "-sign", key, artifact)).decode()


def key_id(pub):
    """The documented key id: the first 16 hex characters of sha256(DER SubjectPublicKeyInfo)."""
    return hashlib.sha256(openssl("pkey", "-pubin", "-in", pub, "-outform", "DER")).hexdigest()[:16]


def quiver(server, *args):
    env = {**os.environ, "QUIVER_SERVER": server.url}
    return subprocess.run([str(BINARY), *map(str, args)], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    d.mkdir()
    for name in ("release", "intruder"):
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d / f"{name}.key")
        openssl("ec", "-in", d / f"{name}.key", "-pubout", "-out", d / f"{name}.pub")
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    shutil.copy(d / "release.pub", trusted / "release.pem")
    return types.SimpleNamespace(
        release=d / "release.key", intruder=d / "intruder.key", trusted=trusted,
        release_id=key_id(d / "release.pub"), intruder_id=key_id(d / "intruder.pub"))


@pytest.fixture
def iris(example_models):
    models_dir, manifest = example_models
    return (models_dir / find_model(manifest, "iris", "v1", "onnx")["path"],
            models_dir / find_model(manifest, "iris", "v2", "onnx")["path"])


def register(server, model, artifact, **extra):
    sha = server.upload(artifact)
    return server.post(f"/v1/models/{model}/versions", json={"artifact": sha, "framework": "onnx", **extra})


def test_require_signature_accepts_signed_and_refuses_the_rest(server_factory, keys, iris):
    v1, v2 = iris
    server = server_factory(extra_args=["--trusted-keys", keys.trusted, "--require-signature"])
    assert server.get("/v1/trusted-keys").json() == {
        "require_signature": True, "keys": [{"id": keys.release_id, "name": "release"}]}

    # Signed with the trusted key: accepted, and the record names the signer.
    r = register(server, "iris", v1, signature=sign(keys.release, v1))
    assert r.status_code == 201, r.text
    assert r.json()["signed_by"] == keys.release_id
    record = server.get("/v1/models/iris/versions/1").json()
    assert record["signed_by"] == keys.release_id and record["signature"] == sign_check(record["signature"])
    assert server.get("/v1/models").json()[0]["signed_by"] == {"1": keys.release_id}

    # Unsigned under --require-signature: 400 that says what to do.
    r = register(server, "iris", v2)
    assert r.status_code == 400, r.text
    assert "accepts only signed artifacts" in r.json()["error"] and "--require-signature" in r.json()["error"]

    # Signed by a key the server does not trust: 403.
    r = register(server, "iris", v2, signature=sign(keys.intruder, v2))
    assert r.status_code == 403, r.text
    assert "untrusted key" in r.json()["error"]
    r = register(server, "iris", v2, signature=sign(keys.intruder, v2), signed_by=keys.intruder_id)
    assert r.status_code == 403 and f"key {keys.intruder_id}, which this server does not trust" in r.json()["error"]

    # A trusted signature over other bytes (v1's signature on v2's artifact): 403.
    r = register(server, "iris", v2, signature=sign(keys.release, v1), signed_by=keys.release_id)
    assert r.status_code == 403, r.text
    assert "does not match artifact" in r.json()["error"]

    # A tampered signature: still DER but altered -> 403; no longer DER -> 400; not base64 -> 400.
    der = bytearray(base64.b64decode(sign(keys.release, v2)))
    der[10] ^= 0x01  # inside r
    r = register(server, "iris", v2, signature=base64.b64encode(bytes(der)).decode())
    assert r.status_code == 403, r.text
    assert "does not verify" in r.json()["error"]
    r = register(server, "iris", v2, signature=base64.b64encode(b"\x30\x02" + bytes(der)).decode())
    assert r.status_code == 400 and "DER" in r.json()["error"], r.text
    r = register(server, "iris", v2, signature="not base64 at all!")
    assert r.status_code == 400 and "base64" in r.json()["error"], r.text

    # Nothing refused was registered.
    assert server.get("/v1/models/iris").json()["versions"] == [1]

    # The signed version loads (checked again before loading) and serves.
    server.deploy("iris", {"versions": [{"version": "1"}]})
    answer = server.infer("iris", ROW)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == "1"


def sign_check(signature):
    """A stored signature is the base64 the client sent (DER, canonical)."""
    assert base64.b64encode(base64.b64decode(signature)).decode() == signature
    return signature


def test_push_sign_and_models_show_the_key_id(server_factory, keys, iris, tmp_path):
    v1, v2 = iris
    server = server_factory(extra_args=["--trusted-keys", keys.trusted, "--require-signature"])

    result = quiver(server, "push", v1, "--model", "iris", "--sign", keys.release)
    assert result.returncode == 0, result.stderr
    assert f"signed by {keys.release_id}" in result.stdout
    record = server.get("/v1/models/iris/versions/1").json()
    assert record["signed_by"] == keys.release_id
    # What the CLI signed verifies with openssl too.
    sig = tmp_path / "v1.sig"
    sig.write_bytes(base64.b64decode(record["signature"]))
    verified = openssl("dgst", "-sha256", "-verify", keys.trusted / "release.pem", "-signature", sig, v1)
    assert b"Verified OK" in verified

    # A signature made beforehand with openssl (the DER file) is attached with --signature.
    der = tmp_path / "v2.sig"
    openssl("dgst", "-sha256", "-sign", keys.release, "-out", der, v2)
    result = quiver(server, "push", v2, "--model", "iris", "--signature", der)
    assert result.returncode == 0, result.stderr

    # quiver models shows who signed what.
    result = quiver(server, "models")
    assert result.returncode == 0, result.stderr
    assert "SIGNED BY" in result.stdout
    assert f"{keys.release_id}: 1,2" in result.stdout

    # Unsigned, or signed by the wrong key: refused, one clear error line, nothing registered.
    result = quiver(server, "push", v2, "--model", "iris")
    assert result.returncode != 0 and "accepts only signed artifacts" in result.stderr
    result = quiver(server, "push", v2, "--model", "iris", "--sign", keys.intruder)
    assert result.returncode != 0 and "does not trust" in result.stderr
    assert server.get("/v1/models/iris").json()["versions"] == [1, 2]


def test_per_model_policy_also_holds_at_load(server_factory, keys, iris):
    v1, v2 = iris
    server = server_factory(extra_args=["--trusted-keys", keys.trusted])

    # No policy: unsigned versions are fine; a signature given is still verified.
    assert register(server, "iris", v1).status_code == 201
    assert register(server, "other", v1).status_code == 201
    r = register(server, "iris", v2, signature=sign(keys.intruder, v2))
    assert r.status_code == 403, r.text
    server.deploy("iris", {"versions": [{"version": "1"}]})

    # Turn the policy on for iris only (quiver policy ... on).
    result = quiver(server, "policy", "iris", "--require-signature", "on")
    assert result.returncode == 0, result.stderr
    assert "signed artifacts required (model policy)" in result.stdout
    assert server.get("/v1/models/iris/policy").json()["signature_required"] is True
    assert server.get("/v1/models/other/policy").json()["signature_required"] is False
    r = register(server, "iris", v2)
    assert r.status_code == 400 and "its policy has require_signature" in r.json()["error"], r.text
    assert register(server, "other", v2).status_code == 201
    r = register(server, "iris", v2, signature=sign(keys.release, v2))
    assert r.status_code == 201 and r.json()["signed_by"] == keys.release_id

    # Loading again checks again: the unsigned v1, registered before the policy, may no
    # longer load; the running revision keeps serving meanwhile.
    r = server.put("/v1/deployments/iris", json={"versions": [{"version": "1", "instances": 2}]})
    assert r.status_code == 200, r.text
    status = server.wait_deployment("iris", r.json()["revision"], expect="failed")
    errors = " ".join(v.get("error", "") for v in status["status"]["versions"])
    assert "refusing to load" in errors and "unsigned" in errors, status
    assert server.infer("iris", ROW).status_code == 200
    # The signed v2 loads under the policy.
    server.deploy("iris", {"versions": [{"version": "2"}]})
    assert server.infer("iris", ROW).json()["model_version"] == "2"

    # The policy change is audited.
    actions = [e["action"] for e in server.get("/v1/audit?model=iris").json()]
    assert "model.policy" in actions


def test_bad_trust_configuration_stops_the_server(tmp_path, keys):
    # --require-signature with no keys to verify against could never accept a version.
    with pytest.raises(RuntimeError, match="needs --trusted-keys"):
        Server(tmp_path / "a", ["--require-signature"]).start()
    # A private key in the trust folder is a mistake worth stopping for.
    shutil.copy(keys.release, keys.trusted / "oops.pem")
    with pytest.raises(RuntimeError, match="private key"):
        Server(tmp_path / "b", ["--trusted-keys", keys.trusted]).start()


def test_sighup_rereads_the_trusted_keys(server_factory, keys, iris):
    """Adding a key to --trusted-keys and sending SIGHUP trusts it without a restart;
    removing it and sending SIGHUP again distrusts it; an empty folder under
    --require-signature is refused and the previous keys stay."""
    import signal
    import time
    v1, v2 = iris
    server = server_factory(extra_args=["--trusted-keys", keys.trusted, "--require-signature"])
    assert register(server, "iris", v1, signature=sign(keys.intruder, v1)).status_code == 403

    def trusted_ids():
        return sorted(k["id"] for k in server.get("/v1/trusted-keys").json()["keys"])

    def hup_until(expected):
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while trusted_ids() != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        return trusted_ids()

    openssl("ec", "-in", keys.intruder, "-pubout", "-out", keys.trusted / "intruder.pem")
    assert hup_until(sorted([keys.release_id, keys.intruder_id])) == sorted([keys.release_id, keys.intruder_id])
    r = register(server, "iris", v1, signature=sign(keys.intruder, v1))
    assert r.status_code == 201 and r.json()["signed_by"] == keys.intruder_id, r.text

    (keys.trusted / "release.pem").unlink()
    assert hup_until([keys.intruder_id]) == [keys.intruder_id]
    assert register(server, "iris", v2, signature=sign(keys.release, v2)).status_code == 403

    # Emptied under --require-signature: refused, the last good set stays.
    (keys.trusted / "intruder.pem").unlink()
    server.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert trusted_ids() == [keys.intruder_id]
    assert server.proc.poll() is None
