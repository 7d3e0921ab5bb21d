"""Black-box fixtures: start the real `quiver` binary on port 0 and talk to it with
real HTTP clients. Example models come from scripts/make_example_models.py."""
import importlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = pathlib.Path(os.environ.get("QUIVER_BINARY", ROOT / "build" / "quiver"))


class Server:
    """One `quiver serve` process on a data directory."""

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = pathlib.Path(data_dir)
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = None
        self.log_path = self.data_dir.parent / (self.data_dir.name + ".log")

    def start(self, timeout=60):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
             "--data-dir", str(self.data_dir)]
            + self.extra_args,
            stdout=subprocess.PIPE, stderr=log)
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("server exited early; log: " + self.log_path.read_text())
            if line.startswith("quiver listening"):
                fields = dict(kv.split("=", 1) for kv in line.split()[2:])
                self.url = "http://" + fields["http"]
                self.grpc_target = fields.get("grpc")
                management = fields.get("management")
                self.management_url = "http://" + management if management else None
                return self
        raise RuntimeError("server did not print its port")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    # --- HTTP helpers ---
    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **kw)

    def post(self, path, **kw):
        return requests.post(self.url + path, timeout=60, **kw)

    def put(self, path, **kw):
        return requests.put(self.url + path, timeout=30, **kw)

    def delete(self, path, **kw):
        return requests.delete(self.url + path, timeout=30, **kw)

    def upload(self, path_or_bytes):
        data = path_or_bytes if isinstance(path_or_bytes, bytes) else pathlib.Path(path_or_bytes).read_bytes()
        r = self.post("/v1/blobs", data=data, headers={"Content-Type": "application/octet-stream"})
        assert r.status_code in (200, 201), r.text
        return r.json()["sha256"]

    def register(self, model, artifact, framework, version=None, inputs=None, outputs=None, **extra):
        sha = self.upload(artifact)
        body = {"artifact": sha, "framework": framework, **extra}
        if version is not None:
            body["version"] = version
        if inputs is not None:
            body["inputs"] = inputs
        if outputs is not None:
            body["outputs"] = outputs
        r = self.post(f"/v1/models/{model}/versions", json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def deploy(self, model, spec, wait=True, expect="ready", timeout=120):
        r = self.put(f"/v1/deployments/{model}", json=spec)
        assert r.status_code == 200, r.text
        revision = r.json()["revision"]
        if wait:
            return self.wait_deployment(model, revision, expect, timeout)
        return r.json()

    def wait_deployment(self, model, revision, expect="ready", timeout=120):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = self.get(f"/v1/deployments/{model}")
            if r.status_code == 200:
                last = r.json()
                st = last["status"]
                if st.get("revision") == revision and st["state"] in ("ready", "failed"):
                    assert st["state"] == expect, json.dumps(last, indent=1)
                    return last
            time.sleep(0.05)
        raise AssertionError(f"deployment of {model} r{revision} not settled: {last}")

    def infer(self, model, inputs, version=None, headers=None, parameters=None, **kw):
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version is not None else "") + "/infer"
        body = {"inputs": inputs}
        if parameters is not None:
            body["parameters"] = parameters
        return self.post(path, json=body, headers=headers or {}, **kw)


@pytest.fixture(scope="session")
def example_models(tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_models.py"), str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path / "data").start()
    yield s
    s.stop()


@pytest.fixture
def server_factory(tmp_path):
    started = []

    def make(data_dir=None, extra_args=()):
        s = Server(data_dir or tmp_path / "data", extra_args).start()
        started.append(s)
        return s

    yield make
    for s in started:
        if s.proc and s.proc.poll() is None:
            s.stop()


def find_model(manifest, name, version_tag, framework):
    """The manifest entry of an example model file."""
    for m in manifest if isinstance(manifest, list) else manifest["models"]:
        if m["name"] == name and str(m["version_tag"]) == str(version_tag) and m["framework"] == framework:
            return m
    raise KeyError((name, version_tag, framework))


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """The protocol's gRPC message classes, generated from our .proto by protoc."""
    out = tmp_path_factory.mktemp("pb")
    subprocess.run(["protoc", f"--proto_path={ROOT / 'proto'}", f"--python_out={out}", "grpc_predict_v2.proto"],
                   check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("grpc_predict_v2_pb2")
    finally:
        sys.path.remove(str(out))


# The unary methods of inference.GRPCInferenceService the tests call: name -> (request
# message, response message) in the protoc-generated module (the `pb` fixture).
GRPC_SERVICE = "/inference.GRPCInferenceService/"
GRPC_UNARY = {
    "ServerLive": ("ServerLiveRequest", "ServerLiveResponse"),
    "ServerReady": ("ServerReadyRequest", "ServerReadyResponse"),
    "ModelReady": ("ModelReadyRequest", "ModelReadyResponse"),
    "ServerMetadata": ("ServerMetadataRequest", "ServerMetadataResponse"),
    "ModelMetadata": ("ModelMetadataRequest", "ModelMetadataResponse"),
    "ModelInfer": ("ModelInferRequest", "ModelInferResponse"),
    "ModelConfig": ("ModelConfigRequest", "ModelConfigResponse"),
    "RepositoryIndex": ("RepositoryIndexRequest", "RepositoryIndexResponse"),
    "RepositoryModelLoad": ("RepositoryModelLoadRequest", "RepositoryModelLoadResponse"),
    "RepositoryModelUnload": ("RepositoryModelUnloadRequest", "RepositoryModelUnloadResponse"),
}
