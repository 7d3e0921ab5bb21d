"""Process isolation: a version deployed with `isolation: process` runs in worker
processes of its own; killing one fails only that version's in-flight requests (503
with a clear message), never another version's, and the worker is back within 2 s."""
import os
import pathlib
import signal
import threading
import time

import numpy as np
import requests
import torch

from conftest import find_model

WORKER_NAME = "quiver-worker"  # a standby (spare, not yet loaded) is "quiver-standby"


def children_of(pid):
    """(pid, comm, cmdline) of the live child processes of `pid`."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            comm = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        found.append((int(entry.name), comm, cmdline))
    return found


def serving_workers(server):
    return [pid for pid, comm, cmdline in children_of(server.proc.pid) if "worker" in cmdline and comm == WORKER_NAME]


def torch_forward(models_dir, entry, x):
    module = torch.jit.load(str(models_dir / entry["path"]))
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def as_array(output):
    return np.array(output["data"], dtype=np.float32).reshape(output["shape"])


def test_killing_an_isolated_worker_under_load_touches_only_its_version(server, example_models):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    v2 = find_model(manifest, "iris", "v2", "torchscript")
    for entry in (v1, v2):
        server.register("iris", models_dir / entry["path"], entry["framework"], inputs=entry["inputs"],
                        outputs=entry["outputs"])
    server.deploy("iris", {"versions": [{"version": 1},
                                        {"version": 2, "isolation": "process", "memory_limit_mb": 2048}]})
    workers = serving_workers(server)
    assert len(workers) == 1, children_of(server.proc.pid)  # v1 runs in the server itself
    victim = workers[0]

    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32)
    inputs = [{"name": "input", "shape": [2, 4], "datatype": "FP32", "data": x.flatten().tolist()}]
    expected = {"1": torch_forward(models_dir, v1, x), "2": torch_forward(models_dir, v2, x)}

    results = {"1": [], "2": []}  # (time sent, time answered, status, body)
    stop = threading.Event()

    def load(version):
        session = requests.Session()
        url = f"{server.url}/v2/models/iris/versions/{version}/infer"
        while not stop.is_set():
            sent = time.monotonic()
            r = session.post(url, json={"inputs": inputs}, timeout=30)
            results[version].append((sent, time.monotonic(), r.status_code, r.json()))

    threads = [threading.Thread(target=load, args=(v,)) for v in ("1", "1", "2", "2")]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        # Steady load for a while after the kill: long enough to see the recovery.
        deadline = killed_at + 10
        while time.monotonic() < deadline:
            after = [r for r in results["2"] if r[0] > killed_at + 2.5 and r[2] == 200]
            if len(after) >= 20:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)

    # The other version never noticed.
    assert results["1"], "no requests to version 1 completed"
    bad_v1 = [(status, body) for _, _, status, body in results["1"] if status != 200]
    assert not bad_v1, bad_v1[:3]
    for _, _, _, body in results["1"][:5]:
        np.testing.assert_allclose(as_array(body["outputs"][0]), expected["1"], atol=1e-5, rtol=0)

    # Version 2: some requests failed, every one with a 503 that says what happened...
    failures = [(sent, done, status, body) for sent, done, status, body in results["2"] if status != 200]
    assert failures, "killing the worker failed no request"
    for _, _, status, body in failures:
        assert status == 503, (status, body)
        message = body["error"]
        assert "worker process of model 'iris' version 2" in message, message
        assert "restarting" in message, message
    assert any("killed by signal 9" in body["error"] for _, _, _, body in failures), failures[:3]
    # ...and only around the kill: the worker was back within 2 seconds.
    assert all(killed_at <= done <= killed_at + 2.0 for _, done, _, _ in failures), \
        [round(done - killed_at, 3) for _, done, _, _ in failures]
    recovered = [body for sent, _, status, body in results["2"] if status == 200 and sent > killed_at + 2.0]
    assert len(recovered) >= 20, "version 2 did not keep answering after its worker was killed"
    for body in recovered[:5]:
        np.testing.assert_allclose(as_array(body["outputs"][0]), expected["2"], atol=1e-5, rtol=0)

    # A new worker serves, and the killed one is gone (reaped, not a zombie).
    replacement = serving_workers(server)
    assert len(replacement) == 1 and replacement[0] != victim, children_of(server.proc.pid)
    assert not pathlib.Path(f"/proc/{victim}").exists()
    assert server.get("/v2/models/iris/versions/2/ready").status_code == 200


def test_isolated_workers_stop_with_their_version_and_with_the_server(server, example_models):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "onnx")
    server.register("iris", models_dir / v1["path"], "onnx")
    server.deploy("iris", {"versions": [{"version": 1, "isolation": "process", "instances": 2}]})
    assert len(serving_workers(server)) == 2  # one worker process per instance
    r = server.infer("iris", [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}])
    assert r.status_code == 200, r.text

    # Back to in-process: the workers of the old servable go once it has drained.
    server.deploy("iris", {"versions": [{"version": 1}]})
    deadline = time.monotonic() + 10
    while children_of(server.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_of(server.proc.pid) == []

    server.deploy("iris", {"versions": [{"version": 1, "isolation": "process"}]})
    pids = [pid for pid, _, _ in children_of(server.proc.pid)]
    assert pids
    assert server.stop() == 0
    deadline = time.monotonic() + 5
    while any(pathlib.Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pathlib.Path(f"/proc/{pid}").exists() for pid in pids), "a worker outlived the server"


def test_workers_die_with_a_server_killed_by_sigkill(server, example_models):
    models_dir, manifest = example_models
    v1 = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", models_dir / v1["path"], v1["framework"], inputs=v1["inputs"], outputs=v1["outputs"])
    server.deploy("iris", {"versions": [{"version": 1, "isolation": "process"}]})
    pids = [pid for pid, _, _ in children_of(server.proc.pid)]
    assert pids
    server.kill9()  # no draining, no destructors: the kernel must take the workers down
    deadline = time.monotonic() + 5
    while any(pathlib.Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pathlib.Path(f"/proc/{pid}").exists() for pid in pids), "a worker outlived the server"
