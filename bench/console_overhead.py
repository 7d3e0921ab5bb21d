#!/usr/bin/python3
"""Does an open web console cost served throughput? Measures `quiver bench` on the iris
model with no browser, then with headless chromium showing the console's traffic page
(which polls the deployment and its 15-minute history every 3 s and redraws five
charts), alternating A/B rounds, and writes the medians and their ratio into
docs/benchmarks.md under its own heading (replacing that section on a rerun).

The console adds no work per request: its numbers come from a sampler that reads the
servables' counters every 2 s. What the browser costs is CPU on the same cores (chromium
renders beside the server and the load generator), so on a small machine the ratio is
an upper bound of the console's effect.

Usage: bench/console_overhead.py [--build-dir build] [--rounds 3] [--duration 6s] [--out docs/benchmarks.md]
"""
import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEADING = "## j. Console overhead: served throughput with the web console open"


def start_server(quiver, data_dir):
    proc = subprocess.Popen([quiver, "serve", "--host", "127.0.0.1", "--http-port", "0", "--grpc-port", "0",
                             "--data-dir", str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    for line in proc.stdout:
        line = line.decode()
        if line.startswith("quiver listening"):
            fields = dict(kv.split("=", 1) for kv in line.split()[2:])
            return proc, "http://" + fields["http"]
    raise RuntimeError("server did not start")


def wait_ready(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/v2/models/iris/ready", timeout=2) as r:
                if json.load(r).get("ready"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("iris not ready")


def bench(quiver, url, concurrency, duration):
    out = subprocess.run([quiver, "bench", "iris", "--server", url, "--json", "--concurrency", str(concurrency),
                          "--duration", duration, "--warmup", "1s"], check=True, capture_output=True, text=True)
    level = json.loads(out.stdout)["levels"][0]
    return level["throughput_infer_per_s"], level["latency_ms"]["p99"]


def open_console(url, profile):
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    proc = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                             "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1366,768",
                             url + "/ui#/models/iris/traffic"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(8)  # chromium starts (costly on 2 cores) and the page polls before the measurement
    if proc.poll() is not None:
        raise RuntimeError("chromium exited")
    return proc


def close_console(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=20)


def write_section(out_path, text):
    doc = out_path.read_text() if out_path.exists() else "# Benchmarks\n"
    start = doc.find(HEADING)
    if start >= 0:
        nxt = doc.find("\n## ", start + len(HEADING))
        doc = doc[:start] + text + (doc[nxt + 1:] if nxt >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    out_path.write_text(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", default="6s")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    quiver = str(pathlib.Path(args.build_dir) / "quiver")
    models = ROOT / "examples" / "models"
    if not (models / "manifest.json").exists():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_example_models.py"), str(models)], check=True,
                       stdout=subprocess.DEVNULL)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="quiver-console-bench-"))
    started = datetime.datetime.now(datetime.timezone.utc)
    load = os.getloadavg()[0]
    server, url = start_server(quiver, tmp / "data")
    results = {"without": [], "with": []}
    try:
        env = dict(os.environ, QUIVER_SERVER=url)
        subprocess.run([quiver, "push", str(models / "iris_v1.pt"), "--model", "iris", "--input", "input:FP32:-1,4",
                        "--output", "probabilities:FP32:-1,3"], check=True, env=env, capture_output=True)
        req = urllib.request.Request(url + "/v1/deployments/iris", method="PUT",
                                     data=json.dumps({"versions": [{"version": "1"}]}).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
        wait_ready(url)
        for r in range(args.rounds):
            results["without"].append(bench(quiver, url, args.concurrency, args.duration))
            browser = open_console(url, tmp / f"profile{r}")
            try:
                results["with"].append(bench(quiver, url, args.concurrency, args.duration))
            finally:
                close_console(browser)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
    p99 = {k: statistics.median(p for _, p in v) for k, v in results.items()}
    ratio = med["with"] / med["without"]
    rows = "\n".join(f"| {k} console | {' / '.join(f'{t:.0f}' for t, _ in v)} | **{med[k]:.0f}** | {p99[k]:.3f} |"
                     for k, v in (("without", results["without"]), ("with", results["with"])))
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    spread = {k: (min(t for t, _ in v), max(t for t, _ in v)) for k, v in results.items()}
    text = f"""{HEADING}

Measured by `bench/console_overhead.py` (run alone, {started:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores,
{cpu}, load average {load:.1f} at the start on a shared machine). `quiver bench iris --concurrency
{args.concurrency} --duration {args.duration}` against one TorchScript iris version, {args.rounds} rounds alternating
without and with headless chromium showing the console's traffic page (it polls the
deployment and `/v1/deployments/iris/stats` every 3 s and redraws five charts).

| | infer/s per round | median infer/s | median p99 ms |
|---|---|---|---|
{rows}

With the console open: **{ratio:.0%}** of the median throughput without it (rounds ranged
{spread["without"][0]:.0f}-{spread["without"][1]:.0f} infer/s without and {spread["with"][0]:.0f}-{spread["with"][1]:.0f} with;
a difference inside that spread is the shared machine's noise). The console adds no work
per request: its charts come from a sampler that reads the versions' counters every 2 s.
What an open console can cost is chromium's own CPU on the cores that also run the
server and the load generator.
"""
    write_section(pathlib.Path(args.out), text)
    print(text)


if __name__ == "__main__":
    main()
