"""Faults, each against the real binary: a disk that fills during an upload, a read-only
data directory, a damaged registry page, a worker that hangs, running out of file
descriptors. (A wall-clock jump is covered by unit tests with a FakeClock:
tests/unit/rollout/clock_jump_test.cc and tests/unit/serving/servable_faults_test.cc.)

Some cases need root to mount a small tmpfs or a read-only bind mount (CI runs as root);
where mounting is not permitted they skip and say why."""
import contextlib
import os
import pathlib
import resource
import socket
import subprocess
import sys
import time
import urllib.parse

import grpc
import pytest
import requests

from conftest import BINARY, Server, find_model

HERE = pathlib.Path(__file__).resolve().parent
WORKER_NAME = "quiver-worker"
IRIS_ROW = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]


# --- helpers -------------------------------------------------------------------------

def mount(*args):
    """Runs mount(8); None when it worked, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or f"mount exited {r.returncode}")


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def small_disk(path, size):
    """A tmpfs of `size` (e.g. "3m") mounted at `path`; skips the test where not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    why = mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if why:
        pytest.skip(f"a small disk needs a tmpfs mount: {why}")
    try:
        yield path
    finally:
        umount(path)


@contextlib.contextmanager
def read_only(path):
    """Makes `path` read-only for this process: a read-only bind mount as root (root
    ignores permission bits), else permissions. Skips where neither is possible."""
    if os.geteuid() == 0:
        why = mount("--bind", str(path), str(path))
        if why:
            pytest.skip(f"a read-only directory as root needs a bind mount: {why}")
        why = mount("-o", "remount,ro,bind", str(path))
        if why:
            umount(path)
            pytest.skip(f"cannot remount read-only: {why}")
        try:
            yield path
        finally:
            umount(path)
    else:
        modes = {}
        for p in [path, *path.rglob("*")]:
            modes[p] = p.stat().st_mode
        for p in modes:
            p.chmod(modes[p] & ~0o222)
        try:
            yield path
        finally:
            for p, mode in modes.items():
                p.chmod(mode)


def start_expecting_failure(data_dir, timeout=60):
    """Runs `quiver serve` on `data_dir`, which must refuse to start: (exit code, stdout, stderr)."""
    r = subprocess.run([str(BINARY), "serve", "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
                        "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def files_under(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def children_of(pid):
    """(pid, comm) of the live child processes of `pid`."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) != pid or fields[0] == "Z":
                continue
            found.append((int(entry.name), (entry / "comm").read_text().strip()))
        except (OSError, ValueError):
            continue
    return found


def serving_workers(server):
    return [pid for pid, comm in children_of(server.proc.pid) if comm == WORKER_NAME]


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def register_iris(server, models_dir, manifest, model="iris", **extra):
    entry = find_model(manifest, "iris", "v1", "onnx")
    return server.register(model, models_dir / entry["path"], "onnx", **extra)


# --- ENOSPC during an upload -------------------------------------------------------------

def test_a_disk_that_fills_during_an_upload_answers_507_keeps_nothing_and_keeps_serving(tmp_path, example_models):
    models_dir, manifest = example_models
    with small_disk(tmp_path / "data", "3m") as data:
        server = Server(data).start()
        try:
            register_iris(server, models_dir, manifest)
            server.deploy("iris", {"versions": [{"version": 1}]})
            assert server.infer("iris", IRIS_ROW).status_code == 200
            before = files_under(data / "blobs")
            free_before = os.statvfs(data).f_bavail

            # Twice the disk: the write path meets ENOSPC part way.
            r = server.post("/v1/blobs", data=os.urandom(6 * 1024 * 1024),
                            headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 507, (r.status_code, r.text)
            message = r.json()["error"]
            assert "No space left on device" in message, message
            assert "disk holding the blob store is full" in message, message

            # Nothing partial: no temporary file, no new blob, the space given back.
            assert files_under(data / "tmp") == []
            assert files_under(data / "blobs") == before
            assert os.statvfs(data).f_bavail >= free_before - 16  # a few blocks of slack (registry WAL)

            # Serving went on, and so do writes that fit.
            assert server.infer("iris", IRIS_ROW).status_code == 200
            register_iris(server, models_dir, manifest, model="iris-again")
            assert server.get("/v2/health/ready").status_code == 200
        finally:
            server.stop()


# --- a read-only data directory ------------------------------------------------------------

def test_a_read_only_data_directory_is_a_clear_start_up_error(tmp_path, example_models):
    models_dir, manifest = example_models
    data = tmp_path / "data"
    server = Server(data).start()  # a data directory in use before, later mounted read-only
    register_iris(server, models_dir, manifest)
    assert server.stop() == 0
    with read_only(data):
        code, out, err = start_expecting_failure(data)
    assert code == 1, (code, err)  # a refusal, not a crash (a signal is negative)
    assert "quiver listening" not in out
    assert f"data directory '{data}' is not writable" in err, err
    assert "Read-only file system" in err or "Permission denied" in err, err


def test_a_data_directory_that_cannot_be_created_is_a_clear_start_up_error(tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir()
    with read_only(parent):
        code, out, err = start_expecting_failure(parent / "data")
    assert code == 1, (code, err)
    assert "quiver listening" not in out
    assert str(parent / "data") in err, err


# --- a damaged registry page ---------------------------------------------------------------

def test_a_damaged_registry_page_is_refused_cleanly_at_start_up(tmp_path, example_models):
    models_dir, manifest = example_models
    data = tmp_path / "data"
    server = Server(data).start()
    entry = find_model(manifest, "iris", "v1", "onnx")
    sha = server.upload(models_dir / entry["path"])
    for i in range(60):  # enough rows for a registry of many pages
        r = server.post(f"/v1/models/m{i}/versions",
                        json={"artifact": sha, "framework": "onnx", "description": "x" * 2000})
        assert r.status_code == 201, r.text
    assert server.stop() == 0  # a clean stop checkpoints the WAL into the file

    db = data / "registry.db"
    wal = pathlib.Path(str(db) + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    raw = bytearray(db.read_bytes())
    page_size = int.from_bytes(raw[16:18], "big") or 65536
    pages = len(raw) // page_size
    assert pages >= 20, pages
    middle = pages // 2
    raw[middle * page_size:(middle + 1) * page_size] = bytes((i * 131 + 7) % 256 for i in range(page_size))
    db.write_bytes(bytes(raw))

    code, out, err = start_expecting_failure(data)
    assert code == 1, (code, err)  # a refusal, not a crash
    assert "quiver listening" not in out
    assert f"registry database '{db}' cannot be opened" in err, err
    assert "damaged" in err and "restore it from a backup" in err, err


# --- a worker that hangs ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def hang_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("hang") / "hang.pt"
    subprocess.run([sys.executable, str(HERE / "special_models.py"), "hang", str(path)], check=True)
    return path


def test_a_hung_worker_fails_its_request_with_504_is_killed_restarted_and_counted(server, hang_model):
    server.register("hang", hang_model, "torchscript",
                    inputs=[{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
                    outputs=[{"name": "output", "datatype": "FP32", "shape": [-1, 3]}])
    # Only a worker process can be stopped mid-call, so the option needs isolation.
    r = server.put("/v1/deployments/hang", json={"versions": [{"version": 1, "worker_timeout_ms": 1000}]})
    assert r.status_code == 400 and "needs isolation: process" in r.json()["error"], r.text
    server.deploy("hang", {"versions": [{"version": 1, "isolation": "process", "worker_timeout_ms": 1500}]})

    fine = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]
    stuck = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1000, 1000, 1000, 1000]}]
    assert server.infer("hang", fine).status_code == 200
    (hung,) = serving_workers(server)

    sent = time.monotonic()
    r = server.infer("hang", stuck)
    took = time.monotonic() - sent
    assert r.status_code == 504, (r.status_code, r.text)
    message = r.json()["error"]
    assert "worker process of model 'hang' version 1 did not answer within 1500 ms" in message, message
    assert "killed and is restarting" in message, message
    assert 1.4 <= took < 6, took

    # The hung worker is gone (killed, reaped) and a fresh one serves.
    wait_until(lambda: not pathlib.Path(f"/proc/{hung}").exists(), 5, f"the hung worker {hung} to go")
    wait_until(lambda: server.infer("hang", fine).status_code == 200, 10, "the restarted worker to serve")
    assert hung not in serving_workers(server)

    status = server.get("/v1/deployments/hang").json()["status"]
    assert status["versions"][0]["worker_restarts"] == 1, status
    metrics = server.get("/metrics").text
    assert 'quiver_worker_restarts_total{model="hang",reason="timeout",version="1"} 1' in metrics, \
        [line for line in metrics.splitlines() if "worker_restarts" in line]


# --- file-descriptor exhaustion ----------------------------------------------------------------

FD_LIMIT = 160
GET_LIVE = b"GET /v2/health/live HTTP/1.1\r\nHost: quiver\r\n\r\n"


def read_response(sock, timeout=3.0):
    """(status, head) of one HTTP response; status 0 when the server closed without one."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return 0, data
        if not chunk:
            return 0, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        rest += chunk
    return int(head.split()[1]), head + b"\r\n\r\n" + rest


class LimitedServer(Server):
    """A server whose RLIMIT_NOFILE is `limit` (soft and hard), as `prlimit --nofile` sets."""

    def __init__(self, data_dir, limit):
        super().__init__(data_dir)
        self.limit = limit

    def start(self, timeout=60):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        limit = self.limit
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
             "--data-dir", str(self.data_dir)],
            stdout=subprocess.PIPE, stderr=open(self.log_path, "ab"),
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit)))
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("server exited early; log: " + self.log_path.read_text())
            if line.startswith("quiver listening"):
                fields = dict(kv.split("=", 1) for kv in line.split()[2:])
                self.url = "http://" + fields["http"]
                self.grpc_target = fields.get("grpc")
                return self
        raise RuntimeError("server did not print its port")


def grpc_connects(target, timeout=3):
    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


def test_running_out_of_file_descriptors_answers_503_keeps_serving_and_recovers(tmp_path):
    server = LimitedServer(tmp_path / "data", FD_LIMIT).start()
    host, port = urllib.parse.urlparse(server.url).hostname, urllib.parse.urlparse(server.url).port
    held, refused = [], []
    try:
        # Open keep-alive connections until the server has no descriptor left for one.
        for _ in range(FD_LIMIT + 40):
            s = socket.create_connection((host, port), timeout=5)
            s.sendall(GET_LIVE)
            status, head = read_response(s)
            if status == 200:
                held.append(s)
                continue
            refused.append((status, head))
            s.close()
            if len(refused) >= 5:
                break
        assert held, "no connection was served at all"
        assert len(refused) >= 5, f"{len(held)} connections served, none refused: the limit was never reached"
        # Refused cleanly: a 503 that says why, never a hang (read_response would have timed out).
        for status, head in refused:
            assert status == 503, head
            assert b"out of file descriptors" in head, head
            assert b"Retry-After: 1" in head, head

        # Connections already open keep being served, and the descriptors held in reserve
        # keep the rest of the server working: gRPC still accepts (gRPC 1.51 stops
        # accepting for good once its accept fails with EMFILE), uploads still work.
        for s in held[:5] + held[-5:]:
            s.sendall(GET_LIVE)
            assert read_response(s)[0] == 200
        assert grpc_connects(server.grpc_target), "gRPC stopped accepting while HTTP was out of descriptors"
        upload = held[0]
        upload.sendall(b"POST /v1/blobs HTTP/1.1\r\nHost: quiver\r\nContent-Length: 3\r\n\r\nabc")
        assert read_response(upload)[0] == 201

        # No busy loop while short of descriptors, with new connections still arriving.
        waiting = socket.create_connection((host, port), timeout=5)
        cpu_before = cpu_seconds(server.proc.pid)
        time.sleep(2.0)
        cpu_used = cpu_seconds(server.proc.pid) - cpu_before
        waiting.close()
        assert cpu_used < 0.5, f"the server used {cpu_used:.2f} s of CPU in 2 s while out of descriptors"
        assert server.proc.poll() is None, "the server died"
    finally:
        for s in held:
            s.close()

    # Descriptors free again: new connections are served.
    def served():
        try:
            return requests.get(server.url + "/v2/health/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False
    wait_until(served, 10, "the server to accept connections again")
    assert grpc_connects(server.grpc_target)
    assert server.stop() == 0
