"""Bad input never takes the server down: every malformed request, bad registration,
bad deployment spec or broken artifact gets a clear 4xx (or a "failed" state), and
the versions already serving keep answering."""
import json
import random
import struct
import time

import pytest
import requests

from conftest import find_model

GOOD_ROW = [0.1, 0.2, 0.3, 0.4]
GOOD_INPUTS = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": GOOD_ROW}]
ROUTED = "/v2/models/iris/infer"


def register_iris_v1(server, example_models, version=None):
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v1", "torchscript")
    return server.register("iris", models_dir / entry["path"], "torchscript", version=version,
                           inputs=entry["inputs"], outputs=entry["outputs"])


def reference_output(server):
    """The answer of v1 to GOOD_INPUTS, taken while the deployment is known healthy."""
    r = server.infer("iris", GOOD_INPUTS, version=1)
    assert r.status_code == 200, r.text
    return r.json()["outputs"][0]["data"]


def assert_still_serving(server, expected):
    r = server.infer("iris", GOOD_INPUTS)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == pytest.approx(expected, abs=1e-6)


def error_of(response, status):
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    return body["error"]


@pytest.fixture
def iris(server, example_models):
    """A server with iris v1 (TorchScript, FP32 [-1,4]) deployed and answering."""
    register_iris_v1(server, example_models)
    server.deploy("iris", {"versions": [{"version": "1"}]})
    return server, reference_output(server)


def test_malformed_inference_requests_get_400_naming_the_problem(iris):
    server, expected = iris

    def post(body):
        if isinstance(body, bytes):
            return server.post(ROUTED, data=body, headers={"Content-Type": "application/json"})
        return server.post(ROUTED, json=body)

    cases = [
        # (body, words the error must contain)
        (b'{"inputs": [', ["json"]),
        ({"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP32", "data": [1, 2, 3, 4, 5]}]},
         ["'input'", "[1, 5]", "[-1, 4]"]),
        ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT32", "data": [1, 2, 3, 4]}]},
         ["INT32", "FP32"]),
        ({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]},
         ["3", "[1, 4]"]),
        ({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": GOOD_ROW}]},
         ["[2, 4]"]),
        ({"inputs": []}, ["inputs"]),
        ({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", "data": GOOD_ROW}]},
         ["features"]),
        ({"inputs": GOOD_INPUTS + [{"name": "extra", "shape": [1], "datatype": "FP32", "data": [1]}]},
         ["extra"]),
        ({"inputs": GOOD_INPUTS, "outputs": [{"name": "bogus"}]}, ["bogus"]),
    ]
    for body, words in cases:
        message = error_of(post(body), 400)
        for word in words:
            assert word.lower() in message.lower(), (body, message)
        assert_still_serving(server, expected)


def test_unknown_model_version_alias_or_undeployed_version_is_404(iris, example_models):
    server, expected = iris
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v2", "torchscript")
    server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                    outputs=entry["outputs"])  # version 2, registered but never deployed
    assert server.put("/v1/models/iris/aliases/later", json={"version": 2}).status_code == 200

    assert "nope" in error_of(server.post("/v2/models/nope/infer", json={"inputs": GOOD_INPUTS}), 404)
    assert "nope" in error_of(server.infer("nope", GOOD_INPUTS, version=1), 404)
    assert "9" in error_of(server.infer("iris", GOOD_INPUTS, version=9), 404)
    assert "nosuch" in error_of(server.infer("iris", GOOD_INPUTS, version="nosuch"), 404)
    error_of(server.infer("iris", GOOD_INPUTS, version=2), 404)
    error_of(server.infer("iris", GOOD_INPUTS, version="later"), 404)
    assert_still_serving(server, expected)


def test_body_over_the_limit_is_413_and_the_server_keeps_serving(server_factory, example_models):
    server = server_factory(extra_args=["--max-body-bytes", "100000"])
    register_iris_v1(server, example_models)
    server.deploy("iris", {"versions": [{"version": "1"}]})
    expected = reference_output(server)

    rows = 200_000 // (4 * 12)  # about 200 KB of JSON
    big = {"inputs": [{"name": "input", "shape": [rows, 4], "datatype": "FP32",
                       "data": [0.123456789] * (rows * 4)}]}
    payload = json.dumps(big).encode()
    assert len(payload) > 190_000
    r = server.post(ROUTED, data=payload, headers={"Content-Type": "application/json"})
    message = error_of(r, 413)
    assert "100000" in message or "large" in message.lower(), message
    assert_still_serving(server, expected)
    # Just under the limit is still accepted.
    rows = 1000
    r = server.infer("iris", [{"name": "input", "shape": [rows, 4], "datatype": "FP32", "data": [0.5] * rows * 4}])
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["shape"] == [rows, 3]


def test_registry_errors_and_rejected_specs_leave_the_deployment_alone(iris, example_models):
    server, expected = iris
    models_dir, manifest = example_models
    sha = server.upload(models_dir / find_model(manifest, "iris", "v2", "torchscript")["path"])

    message = error_of(server.post("/v1/models/iris/versions", json={"artifact": "0" * 64, "framework": "torchscript"}),
                       404)
    assert "0" * 64 in message
    message = error_of(server.post("/v1/models/iris/versions", json={"artifact": sha, "framework": "tensorflow"}), 400)
    assert "tensorflow" in message
    error_of(server.post("/v1/models/iris/versions", json={"artifact": sha, "framework": "torchscript", "version": 1}),
             409)
    # The rejected registrations created nothing.
    assert server.get("/v1/models").json() == [{"name": "iris", "versions": [1], "aliases": {}}]

    before = server.get("/v1/deployments/iris").json()
    history_before = server.get("/v1/deployments/iris/history").json()
    message = error_of(server.put("/v1/deployments/iris", json={"versions": [{"version": "1"}], "bogusfield": 1}),
                       400)
    assert "bogusfield" in message
    message = error_of(server.put("/v1/deployments/iris", json={"versions": [{"version": "1", "replicas": 2}]}), 400)
    assert "replicas" in message
    message = error_of(server.put("/v1/deployments/iris", json={"versions": [{"version": "7"}]}), 404)
    assert "7" in message
    error_of(server.put("/v1/deployments/iris", json={"versions": [{"version": "1"}],
                                                      "traffic": [{"version": "1", "weight": "ninety"}]}), 400)

    after = server.get("/v1/deployments/iris").json()
    assert after["revision"] == before["revision"] == 1
    assert after["versions"] == before["versions"]
    assert after["status"]["state"] == "ready" and after["status"]["serving_revision"] == 1
    assert server.get("/v1/deployments/iris/history").json() == history_before
    assert_still_serving(server, expected)


def version_status(deployment, version):
    entries = [v for v in deployment["status"]["versions"] if v["version"] == version]
    assert len(entries) == 1, deployment
    return entries[0]


@pytest.mark.parametrize("artifact,framework", [("random_bytes", "torchscript"), ("onnx_file", "torchscript"),
                                                ("torchscript_file", "onnx")])
def test_unloadable_artifact_fails_its_version_while_the_old_revision_serves(iris, example_models, artifact,
                                                                             framework):
    server, expected = iris
    models_dir, manifest = example_models
    if artifact == "random_bytes":
        data = random.Random(5).randbytes(20_000)
    elif artifact == "onnx_file":
        data = (models_dir / find_model(manifest, "iris", "v1", "onnx")["path"]).read_bytes()
    else:
        data = (models_dir / find_model(manifest, "iris", "v1", "torchscript")["path"]).read_bytes()
    entry = find_model(manifest, "iris", "v1", "torchscript")
    record = server.register("iris", data, framework, inputs=entry["inputs"], outputs=entry["outputs"])
    assert record["version"] == 2

    r = server.put("/v1/deployments/iris", json={"versions": [{"version": "1"}, {"version": "2"}]})
    assert r.status_code == 200, r.text
    revision = r.json()["revision"]
    assert revision == 2
    # While (and after) v2 fails to load, v1 answers pinned and routed requests.
    deadline = time.time() + 60
    while True:
        for version in (1, None):
            r = server.infer("iris", GOOD_INPUTS, version=version)
            assert r.status_code == 200, r.text
            assert r.headers["x-quiver-model-version"] == "1"
            assert r.json()["outputs"][0]["data"] == pytest.approx(expected, abs=1e-6)
        status = server.get("/v1/deployments/iris").json()["status"]
        if status["revision"] == revision and status["state"] in ("ready", "failed"):
            break
        assert time.time() < deadline, status
    deployment = server.get("/v1/deployments/iris").json()
    assert deployment["status"]["state"] == "failed", deployment
    assert deployment["status"]["serving_revision"] == 1, deployment  # the previous revision keeps serving
    failed = version_status(deployment, 2)
    assert failed["state"] == "failed" and failed["ready_instances"] == 0, failed
    # The error says what went wrong: the artifact is not a loadable model of that framework.
    assert framework in failed["error"].lower() and len(failed["error"]) > 20, failed
    assert version_status(deployment, 1)["state"] == "ready"
    assert server.get("/v1/models/iris/versions/2").json()["state"] == "failed"
    # The failed version is not served pinned either: a clear answer rather than a crash.
    r = server.infer("iris", GOOD_INPUTS, version=2)
    assert r.status_code in (404, 503), r.text
    assert r.json()["error"]
    assert server.get("/v2/models/iris/versions/2/ready").json() == {"name": "iris", "ready": False}
    assert server.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert_still_serving(server, expected)
    assert server.infer("iris", GOOD_INPUTS, version=1).status_code == 200

    audit = server.get("/v1/audit", params={"model": "iris"}).json()
    failures = [e for e in audit if e["action"] == "version.load_failed"]
    assert len(failures) == 1, audit
    assert failures[0]["model"] == "iris" and failures[0]["detail"]["version"] == 2
    assert framework in failures[0]["detail"]["error"].lower()


# --- fuzz ---

def fuzz_bodies(rng, count):
    """(body bytes, extra headers) pairs: random, truncated, mistyped and lying bodies."""
    valid = json.dumps({"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                                    "data": [0.5] * 8}]}).encode()
    binary_header = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                            "parameters": {"binary_data_size": 16}}]}).encode()
    binary_payload = struct.pack("<4f", *GOOD_ROW)
    junk_values = [None, True, "x", -1, 0, 1.5, 2 ** 63, -(2 ** 63) - 1, 1e308, [], {}, [[[]]], "FP32", [1, "a"],
                   {"a": 1}, "\u0000", 10 ** 30]
    datatypes = ["FP32", "INT32", "BYTES", "BOOL", "FP16", "UINT64", "NOPE", "", "fp32"]

    def mutate_json():
        tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": list(GOOD_ROW)}
        choice = rng.randrange(12)
        if choice == 0:
            tensor[rng.choice(list(tensor))] = rng.choice(junk_values)
        elif choice == 1:
            del tensor[rng.choice(list(tensor))]
        elif choice == 2:  # huge dims
            tensor["shape"] = [rng.choice([2 ** 31, 2 ** 40, 2 ** 62, 2 ** 63 - 1, 10 ** 12]), 4]
        elif choice == 3:  # negative dims
            tensor["shape"] = [rng.choice([-1, -2, -(2 ** 40)]), 4]
        elif choice == 4:  # product overflows 64 bits
            tensor["shape"] = [2 ** 40, 2 ** 40, 2 ** 40]
        elif choice == 5:
            tensor["datatype"] = rng.choice(datatypes)
        elif choice == 6:
            tensor["data"] = [rng.choice(junk_values) for _ in range(4)]
        elif choice == 7:
            tensor["shape"] = [rng.randrange(0, 5) for _ in range(rng.randrange(0, 4))]
        elif choice == 8:
            tensor["data"] = [[[rng.random()]] * 2] * 2
        elif choice == 9:
            return {"inputs": rng.choice(junk_values)}
        elif choice == 10:
            return {"inputs": [tensor], "outputs": rng.choice(junk_values + [[{"name": 3}], [{"x": 1}]])}
        else:
            tensor["parameters"] = {"binary_data_size": rng.choice(junk_values)}
        body = {"inputs": [tensor]}
        if rng.random() < 0.2:
            body[rng.choice(["id", "parameters"])] = rng.choice(junk_values)
        return body

    for i in range(count):
        kind = i % 6
        if kind == 0:
            yield rng.randbytes(rng.randrange(0, 300)), {}
        elif kind == 1:
            yield valid[:rng.randrange(0, len(valid))], {}
        elif kind == 2:
            yield json.dumps(mutate_json()).encode(), {}
        elif kind == 3:  # binary extension with a lying JSON length
            lie = rng.choice([len(binary_header) + rng.randrange(1, 40), len(binary_header) - rng.randrange(1, 20),
                              0, 10 ** 9, 2 ** 64, -5, "abc", ""])
            yield binary_header + binary_payload, {"Inference-Header-Content-Length": str(lie)}
        elif kind == 4:  # binary extension with a lying tensor size
            size = rng.choice([0, 4, 15, 17, 64, 2 ** 40, -16])
            header = binary_header.replace(b'"binary_data_size": 16', b'"binary_data_size": ' + str(size).encode())
            yield header + binary_payload, {"Inference-Header-Content-Length": str(len(header))}
        else:  # a valid body with bytes flipped
            body = bytearray(valid)
            for _ in range(rng.randrange(1, 4)):
                body[rng.randrange(len(body))] = rng.randrange(256)
            yield bytes(body), {}


def test_fuzzed_bodies_get_4xx_never_5xx_or_a_dropped_connection(iris):
    server, expected = iris
    rng = random.Random(20240611)
    session = requests.Session()
    url = server.url + ROUTED
    deadline = time.time() + 30
    statuses = {}
    sent = 0
    for body, headers in fuzz_bodies(rng, 3000):
        if time.time() > deadline:
            break
        try:
            r = session.post(url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=10)
        except requests.RequestException as e:  # a dropped connection or a hang is a failure
            pytest.fail(f"no answer to body {body[:200]!r} headers {headers}: {e}")
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code in (200, 400), (r.status_code, r.text[:300], body[:300], headers)
        if r.status_code == 400:
            assert r.json()["error"], r.text
        sent += 1
    assert sent >= 1000, f"only {sent} requests in 30 s"
    # Every error answer left the keep-alive connection open: one connection for all.
    pool = session.get_adapter(url).poolmanager.connection_from_url(url)
    assert pool.num_connections == 1, f"the server closed the connection {pool.num_connections - 1} times"
    assert statuses.get(400, 0) > sent * 0.8, statuses
    assert server.proc.poll() is None, "server exited"
    assert server.get("/v2/health/live").json() == {"live": True}
    assert_still_serving(server, expected)
    # The binary extension still works correctly after all of that.
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": 16}}]}).encode()
    r = session.post(url, data=header + struct.pack("<4f", *GOOD_ROW),
                     headers={"Inference-Header-Content-Length": str(len(header))}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == pytest.approx(expected, abs=1e-6)
