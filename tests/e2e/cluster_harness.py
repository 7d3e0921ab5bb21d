"""Replicas that share a PostgreSQL registry, behind HAProxy, all on loopback: the
setup of the scale-out tests. PostgreSQL comes from scripts/postgres.sh (a throwaway
cluster run as the postgres user), HAProxy is Debian's package health-checking each
replica's readiness."""
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import requests

from conftest import ROOT, Server

PG_SCRIPT = ROOT / "scripts" / "postgres.sh"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postgres:
    """A throwaway PostgreSQL cluster; each test gets a fresh database in it."""

    def __init__(self):
        # Not under pytest's tmp_path: the postgres user must be able to enter it.
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="quiver-e2e-pg."))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.url = None

    def start(self):
        out = subprocess.run(["bash", str(PG_SCRIPT), "start", str(self.dir), str(self.port)], check=True,
                             capture_output=True, text=True)
        self.url = out.stdout.strip().splitlines()[-1]
        return self

    def stop(self):
        subprocess.run(["bash", str(PG_SCRIPT), "stop", str(self.dir)], check=False)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, database="postgres"):
        url = self.url.rsplit("/", 1)[0] + "/" + database
        out = subprocess.run(["psql", url, "-qtAc", sql], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def new_database(self):
        name = "quiver_e2e_%d" % random.randrange(1 << 40)
        self.psql(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + "/" + name


class HAProxy:
    """Debian's HAProxy in front of the replicas, checking readiness every 200 ms and
    retrying a request that found a dead replica on another one."""

    def __init__(self, workdir, replicas):
        self.workdir = pathlib.Path(workdir)
        self.port = free_port()
        self.stats_port = free_port()
        self.replicas = replicas
        self.proc = None
        self.url = f"http://127.0.0.1:{self.port}"

    def config(self):
        servers = "\n".join(
            f"    server {r.replica_id} {r.url[len('http://'):]} check inter 200ms fall 2 rise 2"
            for r in self.replicas)
        return f"""global
    maxconn 2000
    log stderr format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout 502 503
    option http-buffer-request
    # A fresh server connection per request: a request lost with a killed replica is
    # then an empty response on its own connection, which the line above retries on
    # another replica (a reused keep-alive connection's loss is handed to the client).
    option http-server-close
frontend quiver
    bind 127.0.0.1:{self.port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /v2/health/ready
{servers}
"""

    def start(self):
        cfg = self.workdir / "haproxy.cfg"
        cfg.write_text(self.config())
        subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], check=True)
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=open(self.workdir / "haproxy.log", "ab"))
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("haproxy did not become ready")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Replica(Server):
    def __init__(self, data_dir, url, replica_id, extra_args=()):
        self.replica_id = replica_id
        super().__init__(data_dir, ["--registry", url, "--replica-id", replica_id] + list(extra_args))

    def metric(self, name):
        for line in self.get("/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def cluster(self):
        r = self.get("/v1/cluster")
        assert r.status_code == 200, r.text
        return r.json()

    def serving_revision(self, model):
        r = self.get(f"/v1/deployments/{model}")
        if r.status_code != 200:
            return None
        return r.json().get("status", {}).get("serving_revision")


class Cluster:
    def __init__(self, pg, workdir, n=3, extra_args=(), replica_args=None):
        self.pg = pg
        self.workdir = pathlib.Path(workdir)
        self.url = pg.new_database()
        self.extra_args = list(extra_args)
        own = replica_args or {}
        self.replicas = [Replica(self.workdir / f"r{i}", self.url, f"r{i}", self.extra_args + list(own.get(i, ())))
                         for i in range(n)]
        self.haproxy = None

    def start(self, with_haproxy=True):
        for r in self.replicas:
            r.start()
        if with_haproxy:
            self.haproxy = HAProxy(self.workdir, self.replicas).start()
        return self

    def stop(self):
        if self.haproxy:
            self.haproxy.stop()
        for r in self.replicas:
            if r.proc and r.proc.poll() is None:
                if r.proc.poll() is None:
                    try:
                        r.proc.send_signal(signal.SIGCONT)
                    except ProcessLookupError:
                        pass
                r.stop()

    def live(self):
        return [r for r in self.replicas if r.proc and r.proc.poll() is None]

    def leader(self, among=None, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for r in among or self.live():
                if r.metric("quiver_cluster_leader") == 1:
                    return r
            time.sleep(0.05)
        raise AssertionError("no leader")

    def wait_converged(self, timeout=30):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.live()[0].cluster()
            live = [r for r in last["replicas"] if r["live"]]
            if last.get("converged") and len(live) == len(self.live()):
                return last
            time.sleep(0.1)
        raise AssertionError("cluster did not converge: " + json.dumps(last, indent=1))


class Load:
    """Threads sending inference through one URL until stopped; every answer is kept."""

    def __init__(self, url, body, threads=4):
        self.url = url
        self.body = body
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.answers = []  # (time, status or error text)
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        session = requests.Session()
        while not self.stop_flag.is_set():
            try:
                r = session.post(self.url, json=self.body, timeout=10)
                status = r.status_code if r.status_code == 200 else f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                status = repr(e)
            with self.lock:
                self.answers.append((time.time(), status))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)

    def count(self):
        with self.lock:
            return len(self.answers)

    def failures(self):
        with self.lock:
            return [a for a in self.answers if a[1] != 200]
