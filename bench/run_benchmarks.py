#!/usr/bin/python3
"""Runs Quiver's benchmark suite and writes the results to docs/benchmarks.md.

Usage: bench/run_benchmarks.py [--build-dir build] [--out docs/benchmarks.md]
                               [--duration 8] [--skip-fastapi]

Section g (deciding by evidence) lives in bench/evidence_benchmark.py, section h (the
floor: nginx and wrk) in bench/floor_benchmark.py. `--only` runs a
subset of the sections; the report then keeps the other sections of the existing
--out file as they were and notes the partial rerun under the run's date.

Expects the build directory to hold `quiver`, `bench/routing_bench`,
`bench/json_codec_bench` and `bench/raw_forward_bench` (scripts/bench.sh builds them
first). Every server is started here on 127.0.0.1, port 0, with a temporary data
directory, and stopped with SIGTERM at the end. All load comes from `quiver bench`.
Ratios are computed from numbers measured in this one run.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import requests

import evidence_benchmark
import floor_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3"
SECTIONS = "abcdefgh"
# Runs per configuration where configurations are compared (b, e; g has its own in
# bench/evidence_benchmark.py): alternated,
# and the median reported.
ROUNDS = 3

IRIS_IN = [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
IRIS_OUT = [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
WIDE_IN = [{"name": "input", "datatype": "FP32", "shape": [-1, 32]}]
WIDE_OUT = [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]


class Log:
    """Every command the suite runs, as it ran, for the report."""

    def __init__(self):
        self.commands = {}

    def record(self, section, argv, comment=""):
        line = " ".join(shlex.quote(a) for a in argv)
        self.commands.setdefault(section, []).append(f"{line}  # {comment}" if comment else line)


def say(text):
    print(f"[bench] {text}", file=sys.stderr, flush=True)


def run_json(argv, log, section, env=None, timeout=600):
    log.record(section, argv)
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


class QuiverServer:
    """`quiver serve` on 127.0.0.1 and a free port, with its own data directory."""

    def __init__(self, build_dir, log, section):
        self.data_dir = tempfile.mkdtemp(prefix="quiver-bench-")
        argv = [os.path.join(build_dir, "quiver"), "serve", "--host", "127.0.0.1", "--http-port", "0",
                "--grpc-port", "0", "--data-dir", self.data_dir]
        log.record(section, argv)
        self.stderr = open(os.path.join(self.data_dir, "server.log"), "w")
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"quiver listening http=(\S+):(\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"quiver serve did not start: {line!r} (log in {self.data_dir})")
        self.url = f"http://127.0.0.1:{match.group(2)}"
        grpc = re.search(r"grpc=(\S+):(\d+)", line)
        self.grpc = f"127.0.0.1:{grpc.group(2)}" if grpc else None
        self.http = requests.Session()

    def push(self, model, path, version, inputs, outputs):
        with open(path, "rb") as f:
            blob = self.http.post(f"{self.url}/v1/blobs", data=f.read())
        blob.raise_for_status()
        answer = self.http.post(f"{self.url}/v1/models/{model}/versions", json={
            "artifact": blob.json()["sha256"], "framework": "torchscript", "version": version,
            "inputs": inputs, "outputs": outputs})
        if answer.status_code >= 300:
            raise RuntimeError(f"push {model} v{version}: {answer.status_code} {answer.text}")

    def deploy(self, model, spec, wait=True):
        answer = self.http.put(f"{self.url}/v1/deployments/{model}", json=spec)
        if answer.status_code >= 300:
            raise RuntimeError(f"deploy {model}: {answer.status_code} {answer.text}")
        revision = answer.json()["revision"]
        if wait:
            self.wait_serving(model, revision)
        return revision

    def serving_revision(self, model):
        status = self.http.get(f"{self.url}/v1/deployments/{model}").json().get("status", {})
        return status.get("serving_revision", 0), status.get("state")

    def wait_serving(self, model, revision, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            serving, state = self.serving_revision(model)
            ready = self.http.get(f"{self.url}/v2/models/{model}/ready").json().get("ready")
            if serving == revision and state == "ready" and ready:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{model} revision {revision} was not ready within {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        # A server that failed to start keeps its log for the error message's path.
        if self.proc.returncode == 0 and not os.environ.get("QUIVER_BENCH_KEEP"):
            shutil.rmtree(self.data_dir, ignore_errors=True)


class FastApiServer:
    def __init__(self, model_path, log, section):
        argv = [PYTHON, "bench/fastapi_server.py", "--model", model_path, "--name", "iris"]
        log.record(section, argv)
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        match = re.search(r"fastapi listening http=(\S+):(\d+)", line)
        if not match:
            self.stop()
            raise RuntimeError(f"fastapi_server.py did not start: {line!r}")
        self.url = f"http://127.0.0.1:{match.group(2)}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/v2/models/iris/ready", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("fastapi_server.py never answered /ready")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Suite:
    def __init__(self, args):
        self.args = args
        self.build = os.path.relpath(os.path.abspath(args.build_dir), ROOT)
        self.quiver = os.path.join(self.build, "quiver")
        self.log = Log()
        self.results = {}
        self.models = tempfile.mkdtemp(prefix="quiver-bench-models-")

    def bench(self, section, url, model, *extra):
        argv = [self.quiver, "bench", model, "--server", url, "--json", *extra]
        out = run_json(argv, self.log, section)
        return out["levels"]

    def duration(self):
        return f"{self.args.duration}s"

    # ---- setup -----------------------------------------------------------

    def make_models(self):
        argv = [PYTHON, "scripts/make_example_models.py", self.models]
        self.log.record("models", argv)
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True)

    def model(self, name):
        return os.path.join(self.models, name)

    # ---- d. Google Benchmarks --------------------------------------------

    def google_benchmarks(self):
        say("d. routing_bench and json_codec_bench")
        rows = []
        for name in ("routing_bench", "json_codec_bench"):
            argv = [os.path.join(self.build, "bench", name), "--benchmark_format=json",
                    "--benchmark_min_time=0.3"]
            out = run_json(argv, self.log, "d")
            for b in out["benchmarks"]:
                rows.append({"binary": name, "name": b["name"], "real_time": b["real_time"],
                             "unit": b["time_unit"], "bytes_per_second": b.get("bytes_per_second"),
                             "items_per_second": b.get("items_per_second")})
        self.results["d"] = rows

    # ---- raw forward (for a and b) ---------------------------------------

    def raw_forward(self):
        say("raw forward (raw_forward_bench)")
        argv = [os.path.join(self.build, "bench", "raw_forward_bench"), "--benchmark_format=json",
                "--benchmark_min_time=1", "--benchmark_repetitions=3",
                "--benchmark_report_aggregates_only=true"]
        env = dict(os.environ, QUIVER_BENCH_MODELS=self.models)
        out = run_json(argv, self.log, "raw", env=env)
        raw = {}
        for b in out["benchmarks"]:
            if b.get("aggregate_name") != "median":
                continue
            # "BM_RawForward/wide/32/real_time_median" -> ("wide", 32)
            parts = b["run_name"].split("/")
            raw[(parts[1], int(parts[2]))] = {"rows_per_s": b["rows_per_s"], "p50_us": b["p50_us"],
                                              "p99_us": b["p99_us"]}
        self.results["raw"] = raw

    # ---- a. served throughput vs the compute limit ------------------------

    def served_vs_compute(self):
        say("a. wide v1 served vs raw forward")
        server = QuiverServer(self.build, self.log, "a")
        try:
            server.push("wide", self.model("wide_v1.pt"), 1, WIDE_IN, WIDE_OUT)
            server.deploy("wide", {"versions": [{"version": "1", "instances": 1, "batching": {
                "max_batch_size": 32, "max_queue_delay_us": 2000}}]})
            runs = []
            for label, batch, binary, levels in (("binary, 32 rows per request", 32, True, "1,2,4"),
                                                 ("JSON, 32 rows per request", 32, False, "2,4"),
                                                 ("binary, 8 rows per request (batcher merges)", 8, True, "8,16")):
                extra = ["--batch", str(batch), "--concurrency", levels, "--duration", self.duration()]
                if binary:
                    extra.append("--binary")
                runs.append({"label": label, "batch": batch, "levels": self.bench("a", server.url, "wide", *extra)})
            self.results["a"] = runs
        finally:
            server.stop()

    # ---- b. server overhead at concurrency 1 ------------------------------

    def overhead(self):
        say("b. iris v1 overhead at concurrency 1")
        server = QuiverServer(self.build, self.log, "b")
        try:
            server.push("iris", self.model("iris_v1.pt"), 1, IRIS_IN, IRIS_OUT)
            server.deploy("iris", {"versions": [{"version": "1", "instances": 1}]})
            encodings = [("JSON", []), ("binary", ["--binary"])]
            if server.grpc:
                encodings.append(("gRPC", ["--protocol", "grpc", "--grpc-server", server.grpc]))
            out = {label: [] for label, _ in encodings}
            # Alternating rounds, so that a burst of other work on the shared machine
            # lands on every encoding rather than on one.
            for _ in range(ROUNDS):
                for label, extra in encodings:
                    out[label].append(self.bench("b", server.url, "iris", "--concurrency", "1",
                                                 "--duration", self.duration(), *extra)[0])
            self.results["b"] = out
        finally:
            server.stop()

    # ---- c. versus FastAPI + uvicorn --------------------------------------

    def versus_fastapi(self):
        say("c. quiver vs FastAPI + uvicorn, 32 connections")
        out = {}
        server = QuiverServer(self.build, self.log, "c")
        try:
            server.push("iris", self.model("iris_v1.pt"), 1, IRIS_IN, IRIS_OUT)
            server.deploy("iris", {"versions": [{"version": "1", "instances": 1}]})
            out["quiver"] = self.bench("c", server.url, "iris", "--input", "input:FP32:-1,4",
                                       "--concurrency", "32", "--duration", self.duration())[0]
        finally:
            server.stop()
        baseline = FastApiServer(self.model("iris_v1.pt"), self.log, "c")
        try:
            out["fastapi"] = self.bench("c", baseline.url, "iris", "--input", "input:FP32:-1,4",
                                        "--concurrency", "32", "--duration", self.duration())[0]
        finally:
            baseline.stop()
        self.results["c"] = out

    # ---- e. cost of a 100% shadow -----------------------------------------

    def shadow_cost(self):
        say("e. 100% shadow cost")
        server = QuiverServer(self.build, self.log, "e")
        try:
            server.push("iris", self.model("iris_v1.pt"), 1, IRIS_IN, IRIS_OUT)
            server.push("iris", self.model("iris_v2.pt"), 2, IRIS_IN, IRIS_OUT)
            base = {"versions": [{"version": "1", "instances": 1}, {"version": "2", "instances": 1}],
                    "traffic": [{"version": "1", "weight": 100}]}
            specs = (("no shadow", base), ("100% shadow to v2", dict(base, shadow=[{"version": "2", "percent": 100}])))
            out = {label: [] for label, _ in specs}
            for _ in range(ROUNDS):  # alternating, as in b
                for label, spec in specs:
                    server.deploy("iris", spec)
                    out[label].append(self.bench("e", server.url, "iris", "--concurrency", "4",
                                                 "--duration", self.duration())[0])
            self.results["e"] = out
        finally:
            server.stop()

    # ---- f. p99 during a version switch -----------------------------------

    def version_switch(self):
        say("f. p99 around version switches, against steady windows alternated with them")
        server = QuiverServer(self.build, self.log, "f")
        rate, connections, warmup, window, switch_at, rounds = "1000", "8", 1.0, 2.0, 0.6, 4
        try:
            server.push("iris", self.model("iris_v1.pt"), 1, IRIS_IN, IRIS_OUT)
            server.push("iris", self.model("iris_v2.pt"), 2, IRIS_IN, IRIS_OUT)
            server.deploy("iris", {"versions": [{"version": "1", "instances": 1}]})
            load = ["--rate", rate, "--concurrency", connections, "--warmup", f"{warmup:g}s"]
            pairs = []
            live = 1
            # A steady window, then a switch window, in turn: each pair saw the same
            # machine, so its ratio does not carry this shared machine's drift.
            for _ in range(rounds):
                steady = self.bench("f", server.url, "iris", *load, "--duration", f"{window:g}s")[0]
                new = 2 if live == 1 else 1
                switch = self.switch_window(server, load, warmup, window, switch_at, live, new)
                live = new
                pairs.append({"steady": steady, "switch": switch})
            self.results["f"] = {"pairs": pairs, "window": window, "rate": rate, "connections": connections}
        finally:
            server.stop()

    def switch_window(self, server, load, warmup, window, switch_at, old, new):
        """The same load again; `switch_at` seconds into its measured window the
        deployment moves from `old` to `new` alone (load and warm the new version,
        switch routes, drain and unload the old one)."""
        argv = [self.quiver, "bench", "iris", "--server", server.url, "--json", *load, "--duration", f"{window:g}s"]
        spec = {"versions": [{"version": str(new), "instances": 1}]}
        self.log.record("f", argv)
        self.log.record("f", ["curl", "-X", "PUT", f"{server.url}/v1/deployments/iris", "-d", json.dumps(spec)],
                        comment=f"sent {warmup + switch_at:.1f} s after that bench started")
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        time.sleep(warmup + switch_at)
        put_at = time.monotonic() - started - warmup
        revision = server.deploy("iris", spec, wait=False)
        while server.serving_revision("iris")[0] != revision and time.monotonic() - started < 30:
            time.sleep(0.01)
        serving_at = time.monotonic() - started - warmup
        stdout, stderr = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"quiver bench failed during the switch: {stderr.strip()}")
        server.wait_serving("iris", revision)
        return {"label": f"v{old} -> v{new}", "level": json.loads(stdout)["levels"][0], "put_at": put_at,
                "serving_at": serving_at}

    # ---- g. deciding by evidence (bench/evidence_benchmark.py) -------------

    def deciding_by_evidence(self):
        evidence_benchmark.run(self, sys.modules[__name__])

    # ---- h. the floor: nginx and wrk (bench/floor_benchmark.py) ------------

    def floor(self):
        floor_benchmark.run(self, sys.modules[__name__])


# ---- the report -----------------------------------------------------------

def machine_note():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg()[0]
    return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, loopback TCP; "
            f"load average {load:.1f} when the suite started (a shared machine: other work ran alongside)")


def ms(level, key):
    return level["latency_ms"][key]


def level_row(level, batch=1):
    row = f"| {level['concurrency']} | {level['throughput_infer_per_s']:.0f} |"
    if batch > 1:
        row += f" {level['throughput_rows_per_s']:.0f} |"
    row += f" {ms(level, 'p50'):.3f} | {ms(level, 'p90'):.3f} | {ms(level, 'p99'):.3f} | {level['errors']} |"
    return row


def median_ms(levels, key):
    return statistics.median(ms(level, key) for level in levels)


def median_tput(levels):
    return statistics.median(level["throughput_infer_per_s"] for level in levels)


def verdict(met):
    return "**goal met**" if met else "**goal missed**"


def commands_block(log, *sections):
    lines = []
    for section in sections:
        lines.extend(log.commands.get(section, []))
    return "```\n" + "\n".join(lines) + "\n```\n"


def render(suite, started, finished):
    r, log = suite.results, suite.log
    out = []
    add = out.append
    add("# Benchmarks\n")
    add("Generated by `scripts/bench.sh` (which builds the benchmark targets and runs "
        "`bench/run_benchmarks.py`); do not edit by hand. Every number below comes from one run of the "
        "whole suite, except sections rerun alone with `--only` (each says so under the run's date); every "
        "ratio compares numbers measured minutes apart in one run on the same machine.\n")
    add(f"- Run: {started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC, {suite.args.duration} s measured per load level "
        "after 1 s of warmup.")
    if partial(suite.args):
        add(f"- {rerun_line(suite, started, finished)}")
    add(f"- Machine: {machine_note()}.")
    add("- Load: `quiver bench` (one keep-alive HTTP/1.1 connection per worker thread, the request encoded once, "
        "latency per request with steady_clock, exact nearest-rank percentiles over every successful request). "
        "The client runs on the same cores as the server, so every served number includes its cost.")
    add("- Servers: `quiver serve --http-port 0` with a fresh data directory per benchmark, default "
        "options (one intra-op thread per instance, HTTP I/O threads on half the cores, registry and other blocking handlers on their own pool).\n")
    add("To reproduce everything: `scripts/bench.sh` (about 35 minutes once built; `SKIP_SCALE=1` leaves out sections i to l, about 10). The exact commands of this run "
        "follow each result; ports and temporary paths change from run to run.\n")

    raw = r.get("raw", {})
    # a
    if "a" in r and ("wide", 32) in raw:
        wide = raw[("wide", 32)]
        # The forward rate at the median forward time: bursts of other work on the
        # shared machine lengthen some forwards, and the mean-based rate would let
        # them lower the limit (making the served ratio look better than it is).
        limit = 32 * 1e6 / wide["p50_us"]
        add("## a. Served throughput vs the compute limit (wide model)\n")
        add("The `wide` example model (32 -> 256 -> 256 -> 10 MLP, TorchScript) deployed with one instance and "
            "dynamic batching `{max_batch_size: 32, max_queue_delay_us: 2000}`. The compute limit is the in-process "
            "forward rate at batch 32 through the same backend the server uses (`bench/raw_forward_bench`, one "
            "intra-op thread): 32 rows / the median forward time (median of 3 repetitions). Served rows/s = "
            "infer/s x rows per request.\n")
        add(f"Compute limit: **{limit:.0f} rows/s** (batch 32, p50 {wide['p50_us']:.1f} us per forward; the "
            f"mean-time rate, disturbed by other work on the machine, was {wide['rows_per_s']:.0f} rows/s).\n")
        best = 0.0
        for run in r["a"]:
            add(f"{run['label']}:\n")
            add("| concurrency | infer/s | rows/s | p50 ms | p90 ms | p99 ms | errors | served / limit |")
            add("|---|---|---|---|---|---|---|---|")
            for level in run["levels"]:
                ratio = level["throughput_rows_per_s"] / limit
                best = max(best, ratio)
                add(level_row(level, batch=run["batch"]) + f" {ratio:.0%} |")
            add("")
        add(f"Best served / compute limit: **{best:.0%}** (goal >= 90%: {verdict(best >= 0.9)}). "
            "On two cores the model instance, the HTTP threads and the load generator share the CPU, while the "
            "raw forward bench runs alone.\n")
        add(commands_block(log, "models", "raw", "a"))

    # b
    if "b" in r and ("iris", 1) in raw:
        raw_p50 = raw[("iris", 1)]["p50_us"]
        add("## b. Server overhead at concurrency 1 (iris)\n")
        add("Median served latency of one request at a time (iris v1, TorchScript, 1 row) minus the median raw "
            "forward latency of the same model at batch 1 in-process. The served latency is measured by the "
            "client, so the overhead includes the loopback round trip and the client's own system calls.\n")
        add(f"Raw forward p50 at batch 1: **{raw_p50:.1f} us**.\n")
        add(f"{ROUNDS} rounds per encoding, alternated; the overhead uses the median of the rounds' p50.\n")
        add("| encoding | round | infer/s | p50 ms | p90 ms | p99 ms | errors |")
        add("|---|---|---|---|---|---|---|")
        for label, levels in r["b"].items():
            for i, level in enumerate(levels, 1):
                add(f"| {label} | {i} | {level['throughput_infer_per_s']:.0f} | {ms(level, 'p50'):.3f} "
                    f"| {ms(level, 'p90'):.3f} | {ms(level, 'p99'):.3f} | {level['errors']} |")
        add("")
        add("| encoding | median p50 served | overhead (p50 served - p50 raw) | goal <= 50 us |")
        add("|---|---|---|---|")
        for label, levels in r["b"].items():
            p50_us = median_ms(levels, "p50") * 1000
            overhead = p50_us - raw_p50
            add(f"| {label} | {p50_us:.0f} us | {overhead:.0f} us | {verdict(overhead <= 50)} "
                f"({overhead / 50:.2f}x the budget) |")
        add("")
        add(commands_block(log, "b"))

    # c
    if "c" in r:
        q, f = r["c"]["quiver"], r["c"]["fastapi"]
        tput = q["throughput_infer_per_s"] / max(f["throughput_infer_per_s"], 1e-9)
        p99 = ms(q, "p99") / max(ms(f, "p99"), 1e-9)
        add("## c. Versus FastAPI + uvicorn + PyTorch (iris, 32 connections)\n")
        add("The same TorchScript file behind `bench/fastapi_server.py` (FastAPI reading the body with `await request.json()`, as users write it, "
            "`torch.jit.load`, `torch.no_grad()`, one uvicorn worker on uvloop with httptools, one torch thread) and behind Quiver, each "
            "driven by `quiver bench` with 32 connections and the same JSON request body, one after the other.\n")
        add("| server | infer/s | p50 ms | p90 ms | p99 ms | errors |")
        add("|---|---|---|---|---|---|")
        for label, level in (("Quiver", q), ("FastAPI + uvicorn", f)):
            add(f"| {label} | {level['throughput_infer_per_s']:.0f} | {ms(level, 'p50'):.3f} | {ms(level, 'p90'):.3f} "
                f"| {ms(level, 'p99'):.3f} | {level['errors']} |")
        add("")
        add(f"Throughput ratio (Quiver / FastAPI): **{tput:.1f}x** (goal >= 10x: {verdict(tput >= 10)}). "
            f"p99 ratio (Quiver / FastAPI): **{p99:.3f}** (goal <= 0.1: {verdict(p99 <= 0.1)}).\n")
        add(commands_block(log, "c"))

    # d
    if "d" in r:
        add("## d. Google Benchmarks: routing decision and JSON codec\n")
        add("`bench/routing_bench` times one routing decision per policy mix (and a route snapshot load); "
            "`bench/json_codec_bench` parses and writes Open Inference Protocol bodies of 1 MB of FP32.\n")
        add("| binary | benchmark | time | throughput |")
        add("|---|---|---|---|")
        for row in r["d"]:
            speed = ""
            if row["bytes_per_second"] and row["bytes_per_second"] >= 1e11:
                speed = f"{row['bytes_per_second'] / 1e12:.1f} TB/s (a zero-copy view: no per-byte work)"
            elif row["bytes_per_second"]:
                speed = f"{row['bytes_per_second'] / 1e6:.0f} MB/s"
            elif row["items_per_second"]:
                speed = f"{row['items_per_second'] / 1e6:.2f} M items/s"
            add(f"| {row['binary']} | {row['name']} | {row['real_time']:.3g} {row['unit']} | {speed} |")
        add("")
        add(commands_block(log, "d"))

    # e
    if "e" in r:
        base, shadow = r["e"]["no shadow"], r["e"]["100% shadow to v2"]
        add("## e. Cost of a 100% shadow on the primary path (iris, concurrency 4)\n")
        add("iris v1 and v2 both loaded, all routed traffic to v1; then the same deployment with "
            "`shadow: [{version: 2, percent: 100}]`, so every request also runs on v2 and the outputs are "
            f"compared. Latency is what the caller of v1 sees. {ROUNDS} rounds each, alternated (each round "
            "re-applies its deployment); ratios use the medians over the rounds.\n")
        add("| deployment | round | infer/s | p50 ms | p90 ms | p99 ms | errors |")
        add("|---|---|---|---|---|---|---|")
        for label, levels in r["e"].items():
            for i, level in enumerate(levels, 1):
                add(f"| {label} | {i} | {level['throughput_infer_per_s']:.0f} | {ms(level, 'p50'):.3f} "
                    f"| {ms(level, 'p90'):.3f} | {ms(level, 'p99'):.3f} | {level['errors']} |")
        add("")
        add(f"With / without shadow (medians): p50 {median_ms(shadow, 'p50'):.3f} / {median_ms(base, 'p50'):.3f} ms = "
            f"**{median_ms(shadow, 'p50') / median_ms(base, 'p50'):.2f}x**, p99 {median_ms(shadow, 'p99'):.3f} / "
            f"{median_ms(base, 'p99'):.3f} ms = **{median_ms(shadow, 'p99') / median_ms(base, 'p99'):.2f}x**, "
            f"throughput **{median_tput(shadow) / median_tput(base):.2f}x**. "
            "On two cores the shadow copy competes for the same CPU as the primary request, so this is close to "
            "the worst case; with spare cores the shadow runs beside the primary.\n")
        add(commands_block(log, "e"))

    # f
    if "f" in r:
        fr = r["f"]
        ratios = [ms(p["switch"]["level"], "p99") / ms(p["steady"], "p99") for p in fr["pairs"]]
        ratio = statistics.median(ratios)
        add("## f. p99 during a version switch (iris v1 -> v2 -> v1 ...)\n")
        add(f"`quiver bench` at a fixed {fr['rate']} requests/s over {fr['connections']} connections (latency "
            "counted from each request's due time, so a stall cannot hide; this adds the client's timer wake-up "
            f"to every request). {len(fr['pairs'])} pairs of {fr['window']:g} s windows: a steady one, then one in "
            "which the deployment is replaced by one with the other version alone (a PUT: load and warm the new "
            "version, switch routes, drain and unload the old one). This script (`bench/run_benchmarks.py`) sends "
            "the PUT while `quiver bench` runs and polls until the new revision serves. Loading and warmup run at "
            "a lower CPU priority than serving (nice +5), so the load takes the cores serving leaves.\n")
        add("| pair | window | PUT at | serving at | requests | p50 ms | p90 ms | p99 ms | errors | p99 / steady |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for i, (p, rt) in enumerate(zip(fr["pairs"], ratios), 1):
            st, sw = p["steady"], p["switch"]
            level = sw["level"]
            add(f"| {i} | steady | - | - | {st['ok'] + st['errors']} | {ms(st, 'p50'):.3f} | {ms(st, 'p90'):.3f} "
                f"| {ms(st, 'p99'):.3f} | {st['errors']} | |")
            add(f"| {i} | switch {sw['label']} | {sw['put_at']:.2f} s | {sw['serving_at']:.2f} s "
                f"| {level['ok'] + level['errors']} | {ms(level, 'p50'):.3f} | {ms(level, 'p90'):.3f} "
                f"| {ms(level, 'p99'):.3f} | {level['errors']} | {rt:.2f} |")
        add("")
        add(f"p99 around a switch / steady p99, median over the pairs: **{ratio:.2f}x** (goal <= 1.2x: "
            f"{verdict(ratio <= 1.2)}); worst pair {max(ratios):.2f}x.\n")
        add(commands_block(log, "f"))

    # g
    if "g" in r:
        out.extend(evidence_benchmark.render(suite, sys.modules[__name__]))

    # h
    if "h" in r:
        out.extend(floor_benchmark.render(suite, sys.modules[__name__]))

    add("## The load generator\n")
    add("`quiver bench MODEL [--version V] [--concurrency 1,4,16 | --rate RPS] [--duration 10s] [--warmup 1s] "
        "[--requests N] [--binary] [--batch N] [--input NAME:DTYPE:DIMS]... [--header k:v]... [--json]`. "
        "Inputs are random tensors shaped by the model's metadata (the first -1 dimension becomes `--batch`, "
        "any other 1). `--protocol grpc [--grpc-server HOST:PORT]` sends the same inputs as ModelInfer calls "
        "(raw_input_contents) on the gRPC port, one connection per worker.\n")
    return "\n".join(out)


def partial(args):
    return set(SECTIONS) - set(args.only) != set()


def rerun_line(suite, started, finished):
    only = "".join(sorted(set(suite.args.only)))
    return (f"Rerun of section{'s' if len(only) > 1 else ''} {', '.join(only)} alone (`--only {only}`): "
            f"{started:%Y-%m-%d %H:%M} to {finished:%H:%M} UTC, {suite.args.duration} s per load level; "
            f"{machine_note()}.")


def split_report(text):
    """(preamble, {letter: section text}, the rest) of a report render() wrote."""
    parts = re.split(r"(?m)^(?=## )", text)
    sections, rest = {}, []
    for part in parts[1:]:
        match = re.match(r"## ([a-z])\. ", part)
        if match:
            sections[match.group(1)] = part
        else:
            rest.append(part)
    return parts[0], sections, "".join(rest)


def merge_report(old, new, only):
    """The previous report with the sections of this partial run replaced (or added in
    order), its run bullets kept and this run's rerun bullet added; an earlier rerun
    bullet is dropped once every section it covered has been rerun since."""
    old_pre, old_sections, _ = split_report(old)
    new_pre, new_sections, new_rest = split_report(new)
    sections = dict(old_sections)
    sections.update(new_sections)
    new_lines = new_pre.splitlines()
    rerun = [line for line in new_lines if line.startswith("- Rerun of")]
    # Newest first: a rerun bullet goes once later reruns have covered all its sections.
    bullets, covered = [], set(only)
    for line in reversed(old_pre.splitlines()):
        rerun_of = re.match(r"- Rerun of sections? ([a-z, ]+) alone", line)
        if rerun_of:
            letters = set(rerun_of.group(1).replace(",", "").split())
            if letters <= covered:
                continue
            covered |= letters
        if line.startswith("- "):
            bullets.insert(0, line)
    # The new preamble's text, with the previous run bullets in place of this run's.
    first = next(i for i, line in enumerate(new_lines) if line.startswith("- "))
    last = max(i for i, line in enumerate(new_lines) if line.startswith("- "))
    run_end = max(i for i, line in enumerate(bullets) if line.startswith(("- Run:", "- Machine:", "- Rerun of")))
    bullets[run_end + 1:run_end + 1] = rerun
    preamble = "\n".join(new_lines[:first] + bullets + new_lines[last + 1:]) + "\n"
    return preamble + "".join(sections[k] for k in sorted(sections)) + new_rest


def run_steps(suite, args):
    suite.make_models()
    steps = [("d", suite.google_benchmarks)]
    if "a" in args.only or "b" in args.only:
        steps.append(("raw", suite.raw_forward))
    steps += [("a", suite.served_vs_compute), ("b", suite.overhead), ("c", suite.versus_fastapi),
              ("e", suite.shadow_cost), ("f", suite.version_switch), ("g", suite.deciding_by_evidence),
              ("h", suite.floor)]
    for key, step in steps:
        if key != "raw" and key not in args.only:
            continue
        if key == "c" and args.skip_fastapi:
            continue
        step()


def main(argv):
    parser = argparse.ArgumentParser(description="Runs Quiver's benchmarks and writes docs/benchmarks.md")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    parser.add_argument("--duration", type=int, default=6, help="measured seconds per load level")
    parser.add_argument("--skip-fastapi", action="store_true")
    parser.add_argument("--only", default=SECTIONS, help="benchmarks to run, e.g. 'ab'; the report keeps the "
                        "other sections of the existing --out file")
    args = parser.parse_args(argv[1:])

    suite = Suite(args)
    started = datetime.datetime.utcnow()
    try:
        run_steps(suite, args)
    finally:
        shutil.rmtree(suite.models, ignore_errors=True)
    finished = datetime.datetime.utcnow()
    text = render(suite, started, finished)
    if partial(args) and os.path.exists(args.out):
        with open(args.out) as f:
            text = merge_report(f.read(), text, args.only)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    # The raw numbers, for scripts; kept with the build, not in the docs.
    with open(os.path.join(suite.build, "bench", "results.json"), "w") as f:
        json.dump({str(k): v for k, v in suite.results.items() if k != "raw"} |
                  {"raw": {f"{m}/{b}": v for (m, b), v in suite.results.get("raw", {}).items()}}, f, indent=1)
    say(f"wrote {args.out} in {(finished - started).total_seconds():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
