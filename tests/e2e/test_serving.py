"""Foundation: real models registered through the API, served side by side, answering
like PyTorch does."""
import json

import numpy as np
import pytest
import torch

from conftest import find_model


def torch_forward(models_dir, entry, x):
    module = torch.jit.load(str(models_dir / entry["path"]))
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def as_array(output):
    return np.array(output["data"], dtype=np.float32).reshape(output["shape"])


def register_example(server, models_dir, entry, model=None, version=None):
    return server.register(model or entry["name"], models_dir / entry["path"], entry["framework"],
                           version=version, inputs=entry["inputs"], outputs=entry["outputs"])


def test_torchscript_and_onnx_versions_served_side_by_side(server, example_models):
    models_dir, manifest = example_models
    ts_v1 = find_model(manifest, "iris", "v1", "torchscript")
    onnx_v2 = find_model(manifest, "iris", "v2", "onnx")
    ts_v2 = find_model(manifest, "iris", "v2", "torchscript")
    assert register_example(server, models_dir, ts_v1)["version"] == 1
    # The ONNX file carries its own signature: register it without one.
    sha = server.upload(models_dir / onnx_v2["path"])
    r = server.post("/v1/models/iris/versions", json={"artifact": sha, "framework": "onnx",
                                                      "description": "seed 2", "metadata": {"team": "ml"}})
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 2
    server.deploy("iris", {"versions": [{"version": "1"}, {"version": 2}]})

    rng = np.random.default_rng(7)
    for batch in (1, 3, 16):
        x = rng.normal(size=(batch, 4)).astype(np.float32)
        inputs = [{"name": "input", "shape": [batch, 4], "datatype": "FP32", "data": x.flatten().tolist()}]
        for version, reference in (("1", ts_v1), ("2", ts_v2)):
            r = server.infer("iris", inputs, version=version)
            assert r.status_code == 200, r.text
            assert r.headers["x-quiver-model-version"] == version
            body = r.json()
            assert body["model_name"] == "iris" and body["model_version"] == version
            out = body["outputs"][0]
            assert out["name"] == "probabilities" and out["datatype"] == "FP32" and out["shape"] == [batch, 3]
            np.testing.assert_allclose(as_array(out), torch_forward(models_dir, reference, x), atol=1e-5, rtol=0)

    # The two versions really differ, so the comparison above means something.
    x = rng.normal(size=(4, 4)).astype(np.float32)
    assert not np.allclose(torch_forward(models_dir, ts_v1, x), torch_forward(models_dir, ts_v2, x), atol=1e-3)

    # Routed with no traffic section: the first listed version, said in body and header.
    inputs = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]
    for _ in range(5):
        r = server.post("/v2/models/iris/infer", json={"id": "req-9", "inputs": inputs})
        assert r.status_code == 200, r.text
        assert r.json()["model_version"] == "1" and r.headers["x-quiver-model-version"] == "1"
        assert r.json()["id"] == "req-9"

    # Metadata: ONNX signature read from the file, -1 marks the batch dimension.
    meta = server.get("/v2/models/iris/versions/2").json()
    assert meta["platform"] == "onnx_opencv_dnn"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["outputs"][0]["shape"] == [-1, 3]
    assert server.get("/v2/models/iris").json()["versions"] == ["1", "2"]
    assert server.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert server.get("/v2/health/ready").json() == {"ready": True}
    assert server.get("/v2/health/live").json() == {"live": True}

    record = server.get("/v1/models/iris/versions/2").json()
    assert record["framework"] == "onnx" and record["metadata"] == {"team": "ml"} and record["state"] == "ready"
    assert record["artifact"] == sha and record["size"] == (models_dir / onnx_v2["path"]).stat().st_size


def test_aliases_pin_versions(server, example_models):
    models_dir, manifest = example_models
    register_example(server, models_dir, find_model(manifest, "iris", "v1", "torchscript"))
    register_example(server, models_dir, find_model(manifest, "iris", "v2", "torchscript"))
    assert server.put("/v1/models/iris/aliases/canary", json={"version": 2}).status_code == 200
    server.deploy("iris", {"versions": [{"version": "1"}, {"version": "canary"}]})
    inputs = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]
    r = server.infer("iris", inputs, version="canary")
    assert r.status_code == 200 and r.headers["x-quiver-model-version"] == "2"
    models = server.get("/v1/models").json()
    assert models == [{"name": "iris", "versions": [1, 2], "aliases": {"canary": 2}}]
    spec = server.get("/v1/deployments/iris").json()
    assert spec["versions"][1]["version"] == "canary" and spec["versions"][1]["resolved_version"] == 2


def test_ten_versions_across_three_models(server, example_models):
    models_dir, manifest = example_models
    plan = {  # model name -> example files, one version each
        "flowers": [("iris", "v1", "torchscript"), ("iris", "v2", "onnx"), ("iris", "v2", "torchscript"),
                    ("iris", "v1", "onnx")],
        "prices": [("regressor", "v1", "torchscript"), ("regressor", "v2", "onnx"),
                   ("regressor", "v2", "torchscript")],
        "houses": [("regressor", "v1", "onnx"), ("regressor", "v2", "torchscript"),
                   ("regressor", "v1", "torchscript")],
    }
    expected = {}
    for model, files in plan.items():
        for i, key in enumerate(files, start=1):
            entry = find_model(manifest, *key)
            register_example(server, models_dir, entry, model=model)
            expected[(model, i)] = find_model(manifest, key[0], key[1], "torchscript")
        server.deploy(model, {"versions": [{"version": str(i)} for i in range(1, len(files) + 1)]}, timeout=300)
    assert len(expected) == 10

    rng = np.random.default_rng(3)
    for (model, version), reference in expected.items():
        width = reference["inputs"][0]["shape"][1]
        x = rng.normal(size=(2, width)).astype(np.float32)
        name = reference["inputs"][0]["name"]
        r = server.infer(model, [{"name": name, "shape": [2, width], "datatype": "FP32",
                                  "data": x.flatten().tolist()}], version=version)
        assert r.status_code == 200, r.text
        assert r.headers["x-quiver-model-version"] == str(version)
        np.testing.assert_allclose(as_array(r.json()["outputs"][0]), torch_forward(models_dir, reference, x),
                                   atol=1e-5, rtol=0)


def binary_infer_body(x, binary_output=True):
    header = {"inputs": [{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                          "parameters": {"binary_data_size": x.nbytes}}],
              "outputs": [{"name": "probabilities", "parameters": {"binary_data": binary_output}}]}
    head = json.dumps(header).encode()
    return head + x.astype("<f4").tobytes(), len(head)


@pytest.mark.parametrize("framework", ["torchscript", "onnx"])
def test_binary_tensors_match_pytorch(server, example_models, framework):
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v2", framework)
    reference = find_model(manifest, "iris", "v2", "torchscript")
    register_example(server, models_dir, entry)
    server.deploy("iris", {"versions": [{"version": 1}]})
    x = np.random.default_rng(5).normal(size=(8, 4)).astype(np.float32)
    expected = torch_forward(models_dir, reference, x)

    body, json_len = binary_infer_body(x)
    r = server.post("/v2/models/iris/infer", data=body,
                    headers={"Inference-Header-Content-Length": str(json_len),
                             "Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    head_len = int(r.headers["Inference-Header-Content-Length"])
    head = json.loads(r.content[:head_len])
    out = head["outputs"][0]
    assert out["parameters"]["binary_data_size"] == 8 * 3 * 4 and "data" not in out
    got = np.frombuffer(r.content[head_len:], dtype="<f4").reshape(out["shape"])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)

    # Binary input, JSON output.
    body, json_len = binary_infer_body(x, binary_output=False)
    r = server.post("/v2/models/iris/infer", data=body, headers={"Inference-Header-Content-Length": str(json_len)})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(as_array(r.json()["outputs"][0]), expected, atol=1e-5, rtol=0)

    # A binary section that does not match the declared size is a 400.
    r = server.post("/v2/models/iris/infer", data=body[:-4],
                    headers={"Inference-Header-Content-Length": str(json_len)})
    assert r.status_code == 400 and "error" in r.json()
