"""A restart must not turn a failed deployment into an outage: the server serves the
last revision that served before, and reports the newest revision as failed."""
import time

from conftest import find_model

X = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]


def test_restart_serves_the_last_revision_that_served_and_reports_the_failed_one(server_factory, example_models,
                                                                                   tmp_path):
    models_dir, manifest = example_models
    data = tmp_path / "data"
    server = server_factory(data)
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", models_dir / v1["path"], "torchscript", inputs=v1["inputs"], outputs=v1["outputs"])
    # Version 2's bytes are not a TorchScript module: it registers, but never loads.
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a torchscript archive" * 40)
    server.register("iris", broken, "torchscript", inputs=v1["inputs"], outputs=v1["outputs"])
    server.deploy("iris", {"versions": [{"version": 1}]})
    server.deploy("iris", {"versions": [{"version": 2}]}, expect="failed")
    assert server.infer("iris", X).headers["x-quiver-model-version"] == "1"

    server.stop()
    restarted = server_factory(data)
    restarted.wait_deployment("iris", 2, expect="failed")
    # The failed revision is reported at once; revision 1 loads again and serves.
    deadline = time.time() + 60
    while time.time() < deadline:
        status = restarted.get("/v1/deployments/iris").json()["status"]
        if status["serving_revision"] == 1:
            break
        time.sleep(0.05)
    assert status["serving_revision"] == 1 and status["state"] == "failed", status
    assert "revision 1 keeps serving" in status["message"], status
    r = restarted.infer("iris", X)
    assert r.status_code == 200 and r.headers["x-quiver-model-version"] == "1", r.text
    assert restarted.get("/v2/models/iris/ready").json()["ready"] is True
    # A new good revision replaces the fallback as usual.
    restarted.deploy("iris", {"versions": [{"version": 1, "instances": 2}]})
    assert restarted.infer("iris", X).status_code == 200
