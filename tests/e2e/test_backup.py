"""Backups: `quiver backup` takes a consistent snapshot of a live server (it keeps
serving, and takes writes while the archive streams), `quiver restore` brings it back
into a new data directory, and a server started there gives identical answers."""
import io
import json
import os
import subprocess
import tarfile
import threading

import numpy as np
import requests

from conftest import BINARY, find_model


def quiver(*args, server=None):
    env = dict(os.environ)
    if server is not None:
        env["QUIVER_SERVER"] = server.url
    return subprocess.run([str(BINARY), *map(str, args)], env=env, capture_output=True, text=True, timeout=120)


def ok(result):
    assert result.returncode == 0, (result.args, result.returncode, result.stdout, result.stderr)
    return result.stdout


def rows(seed, n=8):
    x = np.random.default_rng(seed).normal(loc=4.0, size=(n, 4)).astype(np.float32)
    return [{"name": "input", "shape": [n, 4], "datatype": "FP32", "data": x.flatten().tolist()}]


class Traffic:
    """Inference in a loop on another thread, counting failures."""

    def __init__(self, server, model):
        self.server, self.model = server, model
        self.ok = self.failed = 0
        self.errors = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        session = requests.Session()
        i = 0
        while not self.stop.is_set():
            r = session.post(f"{self.server.url}/v2/models/{self.model}/infer", json={"inputs": rows(i, 2)},
                             timeout=30)
            if r.status_code == 200:
                self.ok += 1
            else:
                self.failed += 1
                self.errors.append(r.text)
            i += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)


def manifest_of(archive_bytes):
    with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as tar:  # any tar tool reads it
        names = tar.getnames()
        manifest = json.load(tar.extractfile("quiver-backup.json"))
    return names, manifest


def answers(server, seeds=range(5)):
    """Routed and pinned answers, by version, for fixed inputs."""
    out = {}
    for seed in seeds:
        for path in ("/v2/models/iris/infer", "/v2/models/iris/versions/1/infer", "/v2/models/iris/versions/2/infer",
                     "/v2/models/iris/versions/canary/infer"):
            r = server.post(path, json={"inputs": rows(seed)})
            assert r.status_code == 200, (path, r.text)
            body = r.json()
            out[(seed, path)] = (body["model_version"], body["outputs"])
    return out


def test_online_backup_restores_to_a_server_with_identical_answers(server_factory, example_models, tmp_path):
    models_dir, manifest = example_models
    v1 = models_dir / find_model(manifest, "iris", "v1", "onnx")["path"]
    v2 = models_dir / find_model(manifest, "iris", "v2", "onnx")["path"]
    ts = find_model(manifest, "iris", "v1", "torchscript")
    source = server_factory(data_dir=tmp_path / "source")
    source.register("iris", v1, "onnx", description="first", metadata={"owner": "ml"})
    source.register("iris", v2, "onnx")
    assert source.put("/v1/models/iris/aliases/canary", json={"version": 2}).status_code == 200
    source.deploy("iris", {"versions": [{"version": "1"}, {"version": "canary"}],
                           "traffic": [{"version": "1", "weight": 100}, {"version": "canary", "weight": 0}]})

    with Traffic(source, "iris") as traffic:
        # 1. The REST endpoint, read slowly: writes land while the archive streams.
        with requests.get(source.url + "/v1/backup", stream=True, timeout=60) as r:
            assert r.status_code == 200, r.text
            assert r.headers["Content-Type"] == "application/x-tar"
            size = int(r.headers["Content-Length"])
            chunks = r.iter_content(chunk_size=4096)
            first = next(chunks)
            # Meanwhile: a new version (an artifact the snapshot has never seen) and a new revision.
            pushed = source.register("iris", models_dir / ts["path"], "torchscript", inputs=ts["inputs"],
                                     outputs=ts["outputs"])
            assert pushed["version"] == 3
            source.deploy("iris", {"versions": [{"version": "1"}, {"version": "canary"}, {"version": "3"}],
                                   "traffic": [{"version": "1", "weight": 100}]})
            streamed = first + b"".join(chunks)
        assert len(streamed) == size
        names, snapshot = manifest_of(streamed)
        assert names[:2] == ["quiver-backup.json", "registry.db"]
        blobs = {b["sha256"] for b in snapshot["blobs"]}
        assert source.get("/v1/models/iris/versions/1").json()["artifact"] in blobs
        assert pushed["artifact"] not in blobs  # registered after the snapshot: not in it

        # 2. The CLI, under the same live traffic; it checks the archive before keeping it.
        backup_file = tmp_path / "iris.tar"
        out = ok(quiver("backup", "-o", backup_file, server=source))
        assert "every sha256 matches" in out
        assert not (tmp_path / "iris.tar.partial").exists()
    assert traffic.failed == 0, traffic.errors[:3]
    assert traffic.ok > 0

    # Refuses to overwrite a backup.
    again = quiver("backup", "-o", backup_file, server=source)
    assert again.returncode != 0 and "exists" in again.stderr

    # 3. Restore into a new directory, start a server there: same registry, same answers.
    restored_dir = tmp_path / "restored"
    out = ok(quiver("restore", backup_file, "--data-dir", restored_dir))
    assert "restored" in out
    restored = server_factory(data_dir=restored_dir)
    deployment = source.get("/v1/deployments/iris").json()
    restored.wait_deployment("iris", deployment["revision"])
    assert restored.get("/v1/models").json() == source.get("/v1/models").json()
    assert restored.get("/v1/models/iris/versions/1").json()["metadata"] == {"owner": "ml"}
    assert restored.get("/v1/deployments/iris/history").json() == source.get("/v1/deployments/iris/history").json()
    assert answers(restored) == answers(source)
    verify = restored.get("/v1/audit/verify")
    if verify.status_code == 200:  # the audit chain came along intact
        assert verify.json()["ok"] is True, verify.json()


def test_restore_refuses_a_non_empty_directory_or_a_damaged_archive(server, example_models, tmp_path):
    models_dir, manifest = example_models
    v1 = models_dir / find_model(manifest, "iris", "v1", "onnx")["path"]
    record = server.register("iris", v1, "onnx")
    backup_file = tmp_path / "b.tar"
    ok(quiver("backup", "-o", backup_file, server=server))

    # A directory with something in it is never touched.
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    result = quiver("restore", backup_file, "--data-dir", busy)
    assert result.returncode != 0 and "not empty" in result.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["keep.txt"]

    # One flipped bit in a blob: refused, naming the blob, and nothing is left behind.
    data = bytearray(backup_file.read_bytes())
    with tarfile.open(fileobj=io.BytesIO(bytes(data))) as tar:
        member = tar.getmember("blobs/sha256/" + record["artifact"])
    data[member.offset_data + member.size // 2] ^= 0x01
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(bytes(data))
    target = tmp_path / "from-corrupt"
    result = quiver("restore", corrupt, "--data-dir", target)
    assert result.returncode != 0
    assert f"blob {record['artifact']} in the archive is corrupt" in result.stderr
    assert not target.exists()

    # A truncated download: refused.
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(backup_file.read_bytes()[:-2048])
    result = quiver("restore", truncated, "--data-dir", target)
    assert result.returncode != 0 and "ends early" in result.stderr
    assert not target.exists()

    # The intact archive restores.
    ok(quiver("restore", backup_file, "--data-dir", target))


def test_backup_endpoint_takes_no_paths(server):
    r = server.get("/v1/backup", params={"path": "/etc/passwd"})
    assert r.status_code == 400 and "takes no parameters" in r.json()["error"]
    r = server.get("/v1/backup")
    assert r.status_code == 200
    names, snapshot = manifest_of(r.content)
    assert names == ["quiver-backup.json", "registry.db"] and snapshot["blobs"] == []
