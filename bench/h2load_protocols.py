"""Part of section h: gRPC against HTTP binary tensors under one independent load
generator, h2load (nghttp2's), so that neither protocol's number carries the cost of a
client library.

`quiver bench --protocol grpc` drives gRPC through the C++ gRPC client, which spends
several times the CPU per request that the HTTP load generator does; on two shared
cores that cost lands on the server's throughput. h2load speaks HTTP/1.1 (`--h1`) and
HTTP/2 from the same event loop in C, so the two protocols are compared on what the
server spends:
  - HTTP binary: POST /v2/models/iris/infer, binary tensor extension, over HTTP/1.1;
  - gRPC: POST /inference.GRPCInferenceService/ModelInfer, a length-prefixed
    ModelInferRequest with raw_input_contents, over HTTP/2 (h2c).
h2load counts HTTP statuses only, and gRPC reports its errors in trailers under a
200: every run is checked against the server's own inference counters, so a run in
which any request failed is an error, not a number.
"""

import importlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IRIS_ROW = (5.1, 3.5, 1.4, 0.2)
GRPC_PATH = "/inference.GRPCInferenceService/ModelInfer"
# 32 concurrent requests as gRPC users send them: over one channel (one HTTP/2
# connection, 32 streams), and over 32 channels (one stream each, like HTTP/1.1).
SHAPES = (("grpc_c32_m1", 32, 1), ("grpc_c1_m32", 1, 32))


def write_bodies(directory):
    """The two request bodies (files) and the HTTP binary header's length."""
    out = tempfile.mkdtemp(prefix="pb-", dir=directory)
    subprocess.run(["protoc", f"--proto_path={ROOT}/proto", f"--python_out={out}", "grpc_predict_v2.proto"],
                   check=True)
    sys.path.insert(0, out)
    try:
        pb = importlib.import_module("grpc_predict_v2_pb2")
    finally:
        sys.path.remove(out)
    raw = struct.pack("<4f", *IRIS_ROW)
    req = pb.ModelInferRequest(model_name="iris")
    tensor = req.inputs.add(name="input", datatype="FP32")
    tensor.shape.extend([1, 4])
    req.raw_input_contents.append(raw)
    message = req.SerializeToString()
    grpc_body = os.path.join(directory, "iris.grpc")
    with open(grpc_body, "wb") as f:
        f.write(b"\0" + struct.pack(">I", len(message)) + message)  # uncompressed, length-prefixed
    header = json.dumps({"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    http_body = os.path.join(directory, "iris.bin")
    with open(http_body, "wb") as f:
        f.write(header + raw)
    return http_body, grpc_body, len(header)


def inference_counts(server):
    """(requests, errors) the server has counted for iris so far."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as r:
        text = r.read().decode()

    def total(name):
        return sum(float(v) for v in re.findall(rf'^{name}{{model="iris"[^}}]*}} ([0-9.e+]+)$', text, re.M))
    return total("quiver_inference_requests_total"), total("quiver_inference_errors_total")


def h2load(suite, server, argv, seconds, cpu_seconds):
    """One h2load run; returns {"rps", "p50_ms", "p99_ms", "server_us", "client_us"} or raises."""
    log_file = os.path.join(suite.models, "h2load.log")
    if os.path.exists(log_file):
        os.remove(log_file)
    argv = ["h2load", "-D", str(seconds), "-t", "1", f"--log-file={log_file}", *argv]
    suite.log.record("h", argv)
    requests_before, errors_before = inference_counts(server)
    cpu_before, client_before = cpu_seconds(server.proc.pid), children_cpu_seconds()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu = cpu_seconds(server.proc.pid) - cpu_before
    client_cpu = children_cpu_seconds() - client_before
    requests_after, errors_after = inference_counts(server)
    m = re.search(r"(\d+) succeeded, (\d+) failed, (\d+) errored", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"h2load failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    succeeded = int(m.group(1))
    # h2load stops its clock mid-flight: requests it started and abandoned still reach
    # the server, so the server may count up to one per stream more than h2load.
    if int(m.group(2)) or int(m.group(3)) or errors_after > errors_before or requests_after - requests_before < succeeded:
        raise RuntimeError(f"h2load run had failures: {m.group(0)}; server counted "
                           f"{requests_after - requests_before:.0f} requests, {errors_after - errors_before:.0f} errors")
    with open(log_file) as f:
        times_us = sorted(int(line.split("\t")[2]) for line in f if line.strip())

    def pct(p):
        return times_us[min(len(times_us) - 1, int(len(times_us) * p))] / 1000.0
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out.stdout).group(1))
    per_request = 1e6 / max(1, succeeded)
    return {"rps": rps, "p50_ms": pct(0.50), "p99_ms": pct(0.99), "server_us": cpu * per_request,
            "client_us": client_cpu * per_request}


def children_cpu_seconds():
    """CPU seconds of this process's finished children (each h2load run)."""
    t = os.times()
    return t.children_user + t.children_system


def run_round(suite, server, bodies, seconds, cpu_seconds):
    """One round of every measurement: {label: result}."""
    http_body, grpc_body, header_len = bodies
    http = ["--h1", "-d", http_body, "-H", "content-type: application/octet-stream",
            "-H", f"inference-header-content-length: {header_len}", server.url + "/v2/models/iris/infer"]
    grpc = ["-d", grpc_body, "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://{server.grpc}{GRPC_PATH}"]
    row = {
        "http_c1": h2load(suite, server, ["-c", "1", *http], seconds, cpu_seconds),
        "grpc_c1": h2load(suite, server, ["-c", "1", "-m", "1", *grpc], seconds, cpu_seconds),
        "http_c32": h2load(suite, server, ["-c", "32", *http], seconds, cpu_seconds),
    }
    for label, connections, streams in SHAPES:
        row[label] = h2load(suite, server, ["-c", str(connections), "-m", str(streams), *grpc], seconds, cpu_seconds)
    return row


def render(rounds, med, verdict):
    """Markdown lines for the h2load comparison; `med(rounds, key, field)` is the median."""
    if not rounds:
        return []
    out = []
    add = out.append
    add("The same comparison under one independent load generator, `h2load` (nghttp2; HTTP/1.1 with "
        "`--h1` for HTTP binary, HTTP/2 for gRPC with a length-prefixed `ModelInferRequest`), so that "
        "neither number carries a client library's cost. Every run is checked against the server's "
        "inference counters (gRPC answers errors in trailers, which h2load does not read). CPU per "
        "request: the server's from /proc, h2load's from its rusage.\n")
    add("| load | req/s | / HTTP binary | p50 us | p99 us | server CPU per request, us | h2load CPU per request, us |")
    add("|---|---|---|---|---|---|---|")
    http32 = med(rounds, "http_c32", "rps")
    rows = (("HTTP binary, 1 connection", "http_c1"), ("gRPC, 1 stream", "grpc_c1"),
            ("HTTP binary, 32 connections", "http_c32"), ("gRPC, 32 channels x 1 stream", "grpc_c32_m1"),
            ("gRPC, 1 channel x 32 streams", "grpc_c1_m32"))
    for title, key in rows:
        rps = med(rounds, key, "rps")
        ratio = "" if key.endswith("c1") or key == "http_c32" else f"{rps / http32:.2f}"
        add(f"| {title} | {rps:,.0f} | {ratio} | {med(rounds, key, 'p50_ms') * 1000:.0f} | "
            f"{med(rounds, key, 'p99_ms') * 1000:.0f} | {med(rounds, key, 'server_us'):.0f} | "
            f"{med(rounds, key, 'client_us'):.0f} |")
    add("")
    worst = min(med(rounds, key, "rps") for key, _, _ in SHAPES) / http32
    p50_ratio = med(rounds, "grpc_c1", "p50_ms") / med(rounds, "http_c1", "p50_ms")
    server_ratio = max(med(rounds, key, "server_us") for key, _, _ in SHAPES) / med(rounds, "http_c32", "server_us")
    add(f"Under h2load, gRPC at 32 concurrent streams reaches **{worst:.2f}** of HTTP binary in the worse of "
        f"its two shapes (goal >= 0.9: {verdict(worst >= 0.9)}); its p50 at one stream is **{p50_ratio:.2f}x** "
        f"HTTP's (goal <= 1: {verdict(p50_ratio <= 1)}). The server spends {server_ratio:.2f}x the CPU per gRPC "
        "request that it spends per HTTP binary one at 32 (worse shape); the rest of any gap is the load "
        "generator's HTTP/2 framing on the same two cores.\n")
    return out
