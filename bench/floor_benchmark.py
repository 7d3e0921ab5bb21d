"""Section h of the benchmark suite: how close the request path comes to the machine's
HTTP floor, and whether gRPC keeps up with HTTP.

Imported by bench/run_benchmarks.py, whose Suite calls run(suite, bench) and whose
render() calls render(suite, bench); `bench` is that runner module.

The floor is nginx answering a fixed JSON body (`return 200 '...'`), configured the way
its users configure such an endpoint: worker_processes auto, keepalive on, access log
off. Every HTTP server here is driven by the same independent load generator, `wrk`,
with the same JSON request body (iris, one row) posted over kept-alive connections:
  - at 1 connection: p50 latency; Quiver's overhead is its p50 minus nginx's;
  - at 32 connections: throughput; the goal is half of nginx's or more.
The other peer at 32 connections: the FastAPI + uvicorn + PyTorch server of section c
(`await request.json()`, as users write it). Raw forward (the model alone, no server)
is section a's raw_forward_bench.

gRPC against HTTP: `quiver bench --binary` (HTTP binary tensors) and
`quiver bench --protocol grpc` (raw_input_contents) at 1 and 32 concurrent streams,
alternated for ROUNDS rounds, medians compared; and both again under one independent
load generator, h2load (bench/h2load_protocols.py), which carries the goal's verdict:
the C++ gRPC client costs several times the CPU per request of the HTTP one.
"""

import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import h2load_protocols

ROUNDS = 3
BODY = '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
# What nginx answers: an iris response of the same shape and about the same size.
FIXED = ('{"model_name":"iris","model_version":"1","outputs":[{"name":"probabilities","shape":[1,3],'
         '"datatype":"FP32","data":[0.9766,0.0233,0.0001]}]}')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx on 127.0.0.1 with one location that answers FIXED."""

    def __init__(self, log):
        self.dir = tempfile.mkdtemp(prefix="quiver-bench-nginx-")
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes auto;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      default_type application/json;
      return 200 '{FIXED}';
    }}
  }}
}}
""")
        argv = ["nginx", "-p", self.dir, "-c", conf]
        log.record("h", argv, comment="the configuration is written by bench/floor_benchmark.py")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen (log in {self.dir})")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(suite, url, path, connections, seconds):
    """wrk with a POST of BODY; returns {"rps", "p50_ms", "p99_ms", "errors"}."""
    script = os.path.join(suite.models, "post_iris.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n'
                f"wrk.body = '{BODY}'\n"
                'wrk.headers["Content-Type"] = "application/json"\n')
    threads = 1 if connections == 1 else 2
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency",
            "-s", script, url + path]
    suite.log.record("h", argv)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr.strip()}")
    text = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat[pct] = float(value) * UNITS[unit]
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    return {"rps": rps, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "errors": errors}


def run(suite, bench):
    if not all(shutil.which(tool) for tool in ("wrk", "nginx", "h2load")):
        raise RuntimeError("section h needs wrk, nginx and h2load (scripts/install-deps.sh installs them)")
    seconds = max(3, int(suite.args.duration) // 2)
    h = suite.results.setdefault("h", {"rounds": []})
    nginx = Nginx(suite.log)
    server = bench.QuiverServer(suite.build, suite.log, "h")
    fastapi = None
    try:
        server.push("iris", suite.model("iris_v1.pt"), 1, bench.IRIS_IN, bench.IRIS_OUT)
        server.deploy("iris", {"versions": [{"version": "1", "instances": 1}]})
        if not suite.args.skip_fastapi:
            fastapi = bench.FastApiServer(suite.model("iris_v1.pt"), suite.log, "h")
        bench.say("h. the floor: nginx, Quiver and FastAPI under wrk; gRPC against HTTP binary")
        path = "/v2/models/iris/infer"
        # Warm every server's connection path and the model once before measuring.
        for url in [nginx.url, server.url] + ([fastapi.url] if fastapi else []):
            wrk(suite, url, path, 4, 1)
        bodies = h2load_protocols.write_bodies(suite.models)
        for r in range(ROUNDS):
            row = {}
            for label, url in (("nginx", nginx.url), ("quiver", server.url)):
                row[f"{label}_c1"] = wrk(suite, url, path, 1, seconds)
                row[f"{label}_c32"] = wrk(suite, url, path, 32, seconds)
            if fastapi:
                row["fastapi_c32"] = wrk(suite, fastapi.url, path, 32, seconds)
            for conc in ("1", "32"):
                for label, extra in (("http_binary", ["--binary"]),
                                     ("grpc", ["--protocol", "grpc", "--grpc-server", server.grpc])):
                    # CPU seconds of the server and of the load generator per request:
                    # on two shared cores the client's cost limits what the server can show.
                    server_cpu = cpu_seconds(server.proc.pid)
                    client_cpu = children_cpu_seconds()
                    level = suite.bench("h", server.url, "iris", *extra, "--concurrency", conc,
                                        "--duration", f"{seconds}s")[0]
                    requests_done = max(1, level["requests"])
                    row[f"{label}_c{conc}"] = level["throughput_infer_per_s"]
                    row[f"{label}_c{conc}_p50"] = level["latency_ms"]["p50"]
                    row[f"{label}_c{conc}_server_us"] = (cpu_seconds(server.proc.pid) - server_cpu) / requests_done * 1e6
                    row[f"{label}_c{conc}_client_us"] = (children_cpu_seconds() - client_cpu) / requests_done * 1e6
            row["h2load"] = h2load_protocols.run_round(suite, server, bodies, seconds, cpu_seconds)
            h["rounds"].append(row)
    finally:
        if fastapi:
            fastapi.stop()
        server.stop()
        nginx.stop()


def cpu_seconds(pid):
    """User + system CPU seconds a process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    """CPU seconds of this script's finished children (each `quiver bench` run)."""
    t = os.times()
    return t.children_user + t.children_system


def med(rounds, key, field=None):
    values = []
    for r in rounds:
        v = r.get(key)
        if v is None:
            continue
        if field:
            v = v.get(field)
        if v is not None:
            values.append(v)
    return statistics.median(values) if values else None


def render(suite, bench):
    h = suite.results["h"]
    rounds = h["rounds"]
    out = []
    add = out.append
    add("## h. The floor: nginx, Quiver and FastAPI under wrk; gRPC against HTTP\n")
    add("Every HTTP server is driven by `wrk` with the same JSON body (iris, one row), on kept-alive "
        "connections, one after the other; nginx answers a fixed response of the same shape from "
        "`return 200` (worker_processes auto, access log off), which is the HTTP floor of this machine. "
        f"{ROUNDS} rounds, alternated; medians over the rounds.\n")
    n1, q1 = med(rounds, "nginx_c1", "p50_ms"), med(rounds, "quiver_c1", "p50_ms")
    n32, q32 = med(rounds, "nginx_c32", "rps"), med(rounds, "quiver_c32", "rps")
    f32 = med(rounds, "fastapi_c32", "rps")
    add("| server | 1 connection: p50 us | p99 us | 32 connections: req/s | p50 us | p99 us |")
    add("|---|---|---|---|---|---|")
    for label in ("nginx", "quiver", "fastapi"):
        c1, c32 = f"{label}_c1", f"{label}_c32"
        if med(rounds, c32, "rps") is None:
            continue

        def us(key, field):
            v = med(rounds, key, field)
            return f"{v * 1000:.0f}" if v is not None else "-"
        add(f"| {label} | {us(c1, 'p50_ms')} | {us(c1, 'p99_ms')} | {med(rounds, c32, 'rps'):,.0f} | "
            f"{us(c32, 'p50_ms')} | {us(c32, 'p99_ms')} |")
    add("")
    overhead_us = (q1 - n1) * 1000
    ratio = q32 / n32
    line = (f"Quiver's overhead over nginx's p50 at one connection: **{overhead_us:.0f} us** "
            f"(goal <= 30 us: {bench.verdict(overhead_us <= 30)}). Throughput at 32 connections, Quiver / nginx: "
            f"**{ratio:.2f}** (goal >= 0.5: {bench.verdict(ratio >= 0.5)}).")
    if f32:
        line += f" Quiver / FastAPI at 32 connections: **{q32 / f32:.1f}x**."
    add(line + "\n")
    g32, b32 = med(rounds, "grpc_c32"), med(rounds, "http_binary_c32")
    g1, b1 = med(rounds, "grpc_c1_p50"), med(rounds, "http_binary_c1_p50")
    add("gRPC (`quiver bench --protocol grpc`, raw_input_contents, through the C++ gRPC client) against "
        "HTTP binary tensors (`quiver bench --binary`):\n")
    add("| | HTTP binary | gRPC | gRPC / HTTP |")
    add("|---|---|---|---|")
    add(f"| infer/s at 32 streams | {b32:,.0f} | {g32:,.0f} | {g32 / b32:.2f} |")
    if g1 and b1:
        add(f"| p50 at 1 stream, us | {b1 * 1000:.0f} | {g1 * 1000:.0f} | {g1 / b1:.2f} |")
    gs, bs = med(rounds, "grpc_c32_server_us"), med(rounds, "http_binary_c32_server_us")
    gc, bc = med(rounds, "grpc_c32_client_us"), med(rounds, "http_binary_c32_client_us")
    if gs and bs:
        add(f"| server CPU per request at 32 streams, us | {bs:.0f} | {gs:.0f} | {gs / bs:.2f} |")
    if gc and bc:
        add(f"| load generator CPU per request at 32 streams, us | {bc:.0f} | {gc:.0f} | {gc / bc:.2f} |")
    add("")
    if gs and bs and gc and bc:
        add("Both processes share this machine's two cores, so throughput at 32 streams is bounded by the CPU "
            "the server and the load generator spend per request together: "
            f"{bs + bc:.0f} us over HTTP binary, {gs + gc:.0f} us over gRPC.\n")
    add(f"With these clients gRPC at 32 streams reaches {g32 / b32:.2f} of HTTP binary"
        + (f" and its p50 at one stream is {g1 / b1:.2f}x HTTP's." if g1 and b1 else ".")
        + " The load generator's CPU is most of the difference; the comparison below removes it.\n")
    out += h2load_protocols.render([r["h2load"] for r in rounds if "h2load" in r], med, bench.verdict)
    add(bench.commands_block(suite.log, "h"))
    return out
