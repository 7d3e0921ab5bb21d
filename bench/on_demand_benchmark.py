"""On-demand loading at scale: many registered versions, a hundred live ones on one
server, what each costs in memory, how much slower a cold first request is than a
warm one, what routing costs as versions grow, and what listing costs with 100,000
registered versions.

    /usr/bin/python3 bench/on_demand_benchmark.py [--write docs/benchmarks.md]
        [--registered 1000] [--live 100] [--listing 100000]

Runs the real binary (build/quiver) on port 0 with fresh data directories, and
build/bench/version_count_bench (Google Benchmark) for routing. With --write it
replaces its own section of docs/benchmarks.md (between the on-demand markers) and
its plots in docs/images/; everything else in that file stays as it is. Ratios are
taken within this one run; the machine is shared and noisy.
"""
import argparse
import concurrent.futures
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import requests

ROOT = pathlib.Path(__file__).resolve().parents[1]
BINARY = ROOT / "build" / "quiver"
ROUTING_BENCH = ROOT / "build" / "bench" / "version_count_bench"
BEGIN, END = "<!-- on-demand section: begin -->", "<!-- on-demand section: end -->"
SIG = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
       "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 3]}]}
X = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -0.2, 0.1, 0.9]}]}
MAKER = textwrap.dedent('''
    import sys, torch
    from torch import nn
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(1)
            self.lin = nn.Linear(4, 3)
        def forward(self, input: torch.Tensor) -> torch.Tensor:
            return self.lin(input)
    torch.jit.script(Tiny()).save(sys.argv[1])
''')


class Server:
    def __init__(self, data_dir, *extra):
        self.proc = subprocess.Popen([str(BINARY), "serve", "--host", "127.0.0.1", "--http-port", "0",
                                      "--grpc-port", "0", "--data-dir", str(data_dir), *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for line in self.proc.stdout:
            line = line.decode()
            if line.startswith("quiver listening"):
                fields = dict(kv.split("=", 1) for kv in line.split()[2:])
                self.url = "http://" + fields["http"]
                break
        else:
            raise RuntimeError("server exited early")
        self.session = requests.Session()

    def rss_mib(self):
        text = pathlib.Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) / 1024

    def call(self, method, path, **kw):
        r = self.session.request(method, self.url + path, timeout=120, **kw)
        assert r.status_code < 300, (path, r.status_code, r.text[:300])
        return r

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def register_many(server, artifact_sha, models, per_model, threads=4):
    """Registers models x per_model versions over `threads` keep-alive connections."""
    def work(names):
        s = requests.Session()
        for name in names:
            for _ in range(per_model):
                r = s.post(server.url + f"/v1/models/{name}/versions", timeout=120,
                           json={"artifact": artifact_sha, "framework": "torchscript", **SIG})
                assert r.status_code == 201, r.text
    names = [f"m{i:05d}" for i in range(models)]
    chunks = [names[i::threads] for i in range(threads)]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, chunks))
    return names, time.time() - t0


def wait_ready(server, model, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = server.call("GET", f"/v1/deployments/{model}").json()["status"]
        if st["state"] == "ready":
            return
        time.sleep(0.05)
    raise RuntimeError(f"{model} not ready")


def scale_section(work, args):
    """1,000 registered, 100 live on-demand versions: memory and cold vs warm latency."""
    data = pathlib.Path(work) / "scale"
    server = Server(data)
    try:
        sha = server.call("POST", "/v1/blobs", data=(pathlib.Path(work) / "tiny.pt").read_bytes()).json()["sha256"]
        models = 10
        names, reg_seconds = register_many(server, sha, models, args.registered // models)
        live_per_model = args.live // models
        t0 = time.time()
        for name in names:
            spec = {"versions": [{"version": v, "load": "on_demand"} for v in range(1, live_per_model + 1)]}
            server.call("PUT", f"/v1/deployments/{name}", json=spec)
        for name in names:
            wait_ready(server, name)
        deploy_seconds = time.time() - t0
        # One eagerly loaded version first, so the runtime's one-time start-up cost is
        # not charged to the first on-demand version.
        warm_model = "warmup"
        server.call("POST", f"/v1/models/{warm_model}/versions", json={"artifact": sha, "framework": "torchscript", **SIG})
        server.call("PUT", f"/v1/deployments/{warm_model}", json={"versions": [{"version": 1}]})
        wait_ready(server, warm_model)
        server.call("POST", f"/v2/models/{warm_model}/infer", json=X)
        time.sleep(0.5)

        rss = [(0, server.rss_mib())]
        cold = []
        order = [(name, v) for v in range(1, live_per_model + 1) for name in names]
        for i, (name, v) in enumerate(order, 1):
            t = time.perf_counter()
            server.call("POST", f"/v2/models/{name}/versions/{v}/infer", json=X)
            cold.append((time.perf_counter() - t) * 1e3)
            if i % 10 == 0:
                rss.append((i, server.rss_mib()))
        warm = []
        for _ in range(10):
            for name, v in order:
                t = time.perf_counter()
                server.call("POST", f"/v2/models/{name}/versions/{v}/infer", json=X)
                warm.append((time.perf_counter() - t) * 1e3)
        metrics = server.call("GET", "/metrics").text
        loads = sum(float(m) for m in re.findall(r"^quiver_model_loads_total\{[^}]*\} (\S+)$", metrics, re.M))
    finally:
        server.stop()
    xs, ys = [p[0] for p in rss], [p[1] for p in rss]
    slope = statistics.linear_regression(xs, ys).slope if hasattr(statistics, "linear_regression") else \
        (ys[-1] - ys[0]) / max(1, xs[-1] - xs[0])
    return {"registered": models * (args.registered // models), "live": len(order), "models": models,
            "register_seconds": reg_seconds, "deploy_seconds": deploy_seconds, "rss": rss,
            "mib_per_version": slope, "cold_ms": cold, "warm_ms": warm, "loads": loads,
            "artifact_bytes": (pathlib.Path(work) / "tiny.pt").stat().st_size}


def listing_section(work, args):
    """100,000 registered versions: a page of the listing against the whole of it."""
    data = pathlib.Path(work) / "listing"
    server = Server(data)
    try:
        sha = server.call("POST", "/v1/blobs", data=(pathlib.Path(work) / "tiny.pt").read_bytes()).json()["sha256"]
        per_model = 10
        names, reg_seconds = register_many(server, sha, args.listing // per_model, per_model)
        time.sleep(1)
        pages, token, walk0 = [], None, time.perf_counter()
        while True:
            params = {"limit": 100} | ({"page_token": token} if token else {})
            t = time.perf_counter()
            body = server.call("GET", "/v1/models", params=params).json()
            pages.append((time.perf_counter() - t) * 1e3)
            token = body.get("next_page_token")
            if not token:
                break
        walk = time.perf_counter() - walk0
        full = []
        for _ in range(3):
            t = time.perf_counter()
            r = server.call("GET", "/v1/models")
            full.append((time.perf_counter() - t) * 1e3)
        full_bytes = len(r.content)
        versions_page = []
        for _ in range(20):
            t = time.perf_counter()
            server.call("GET", f"/v1/models/{names[-1]}", params={"limit": 5})
            versions_page.append((time.perf_counter() - t) * 1e3)
    finally:
        server.stop()
    return {"versions": len(names) * per_model, "models": len(names), "register_seconds": reg_seconds,
            "page_ms": pages, "walk_seconds": walk, "full_ms": statistics.median(full), "full_bytes": full_bytes,
            "versions_page_ms": statistics.median(versions_page)}


def routing_section():
    out = subprocess.run([str(ROUTING_BENCH), "--benchmark_format=json", "--benchmark_min_time=0.2"],
                         check=True, capture_output=True, text=True).stdout
    rows = {}
    for b in json.loads(out)["benchmarks"]:
        name, n = b["name"].split("/")
        rows.setdefault(name, []).append((int(n), b["cpu_time"] if b["time_unit"] == "ns" else b["cpu_time"] * 1e3))
    return rows


def plot(results, images):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    images.mkdir(parents=True, exist_ok=True)
    s = results["scale"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot([p[0] for p in s["rss"]], [p[1] for p in s["rss"]], "o-")
    ax[0].set_xlabel("on-demand versions loaded")
    ax[0].set_ylabel("server resident memory (MiB)")
    ax[0].set_title(f"{s['mib_per_version']:.2f} MiB per live version")
    for label, values in (("cold first request", s["cold_ms"]), ("warm request", s["warm_ms"])):
        v = sorted(values)
        ax[1].plot(v, [(i + 1) / len(v) for i in range(len(v))], label=label)
    ax[1].set_xscale("log")
    ax[1].set_xlabel("latency (ms, log)")
    ax[1].set_ylabel("share of requests")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(images / "on_demand_memory_latency.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = {"BM_RouteWeightedAmongVersions": "weighted decision", "BM_ResolvePinnedAmongVersions":
              "pinned look-up (x2)", "BM_BuildRouteOfVersions": "building the route"}
    for name, rows in results["routing"].items():
        target = ax[1] if name == "BM_BuildRouteOfVersions" else ax[0]
        target.plot([r[0] for r in rows], [r[1] for r in rows], "o-", label=labels.get(name, name))
    for a in ax:
        a.set_xscale("log")
        a.set_yscale("log")
        a.set_xlabel("versions")
        a.legend()
    ax[0].set_ylabel("ns per request")
    ax[1].set_ylabel("ns per snapshot")
    fig.tight_layout()
    fig.savefig(images / "on_demand_routing.png", dpi=110)
    plt.close(fig)

    li = results["listing"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(range(1, len(li["page_ms"]) + 1), li["page_ms"], ".", label="one page of 100 models")
    ax.axhline(li["full_ms"], color="C3", label="the whole list at once")
    ax.set_yscale("log")
    ax.set_xlabel("page")
    ax.set_ylabel("response time (ms, log)")
    ax.set_title(f"GET /v1/models with {li['versions']:,} registered versions")
    ax.legend()
    fig.tight_layout()
    fig.savefig(images / "on_demand_listing.png", dpi=110)
    plt.close(fig)


def render(results, command, started):
    s, li, rt = results["scale"], results["listing"], results["routing"]
    cold_p50, cold_p99 = percentile(s["cold_ms"], 0.5), percentile(s["cold_ms"], 0.99)
    warm_p50, warm_p99 = percentile(s["warm_ms"], 0.5), percentile(s["warm_ms"], 0.99)
    page_p50, page_p99 = percentile(li["page_ms"], 0.5), percentile(li["page_ms"], 0.99)
    route = dict(rt.get("BM_RouteWeightedAmongVersions", []))
    pinned = dict(rt.get("BM_ResolvePinnedAmongVersions", []))
    build = dict(rt.get("BM_BuildRouteOfVersions", []))
    lines = [BEGIN, "## i. On-demand loading: many versions on one server", "",
             f"Run: {started} UTC; {os.cpu_count()} cores, Linux {platform.release()}; load average "
             f"{os.getloadavg()[0]:.1f} at the start (a shared machine). One tiny TorchScript model "
             f"({s['artifact_bytes']:,} bytes, 4 -> 3 linear) registered as every version.", "",
             f"**{s['registered']:,} registered versions, {s['live']} live** ({s['models']} models, each deploying "
             f"{s['live'] // s['models']} versions with `load: on_demand`): registering took "
             f"{s['register_seconds']:.1f} s, deploying all {s['models']} models {s['deploy_seconds']:.2f} s "
             f"(nothing loads until a request comes). Each of the {s['live']} live versions was then loaded by its "
             f"first request ({int(s['loads'])} loads counted by `quiver_model_loads_total`).", "",
             "| measure | value |", "|---|---|",
             f"| resident memory per live version (slope of server RSS over versions loaded) | "
             f"{s['mib_per_version']:.2f} MiB |",
             f"| server RSS with 0 / {s['live']} versions loaded | {s['rss'][0][1]:.0f} / {s['rss'][-1][1]:.0f} MiB |",
             f"| cold first request p50 / p99 | {cold_p50:.1f} / {cold_p99:.1f} ms |",
             f"| warm request p50 / p99 | {warm_p50:.2f} / {warm_p99:.2f} ms |",
             f"| cold p99 / warm p99 | {cold_p99 / warm_p99:.0f}x |", "",
             "![memory per live version; cold and warm latency](images/on_demand_memory_latency.png)", "",
             f"**Routing against the number of versions** (`build/bench/version_count_bench`): a weighted decision "
             f"costs {route.get(1, 0):.0f} ns with 1 version and {route.get(1000, 0):.0f} ns with 1,000 (a binary "
             f"search over cumulative weights); a pinned look-up (number and alias) {pinned.get(1, 0):.0f} ns vs "
             f"{pinned.get(1000, 0):.0f} ns; building a 1,000-version route for a new snapshot "
             f"{build.get(1000, 0) / 1e3:.0f} us.", "",
             "![routing time against versions](images/on_demand_routing.png)", "",
             f"**Listing with {li['versions']:,} registered versions** ({li['models']:,} models of 10 versions; "
             f"registering them took {li['register_seconds']:.0f} s): one page of `GET /v1/models?limit=100` "
             f"takes p50 {page_p50:.1f} ms, p99 {page_p99:.1f} ms; median of the first ten pages "
             f"{statistics.median(li['page_ms'][:10]):.1f} ms, of the last ten "
             f"{statistics.median(li['page_ms'][-10:]):.1f} ms (keyset pages: the token names the last model "
             f"seen, so a late page costs what an early one does); walking all {len(li['page_ms'])} pages "
             f"{li['walk_seconds']:.1f} s. The unpaginated list takes {li['full_ms']:.0f} ms and "
             f"{li['full_bytes'] / 1e6:.1f} MB, {li['full_ms'] / page_p50:.0f}x one page. Registering dominates "
             f"this benchmark's time: every registration wakes the reconcile loop, whose pass re-reads the whole "
             f"registered list (`--listing N` scales it down). One page of a model's "
             f"versions (`GET /v1/models/{{m}}?limit=5`): {li['versions_page_ms']:.1f} ms.", "",
             "![listing time per page](images/on_demand_listing.png)", "",
             "```", command, "```", END]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--registered", type=int, default=1000)
    p.add_argument("--live", type=int, default=100)
    p.add_argument("--listing", type=int, default=100_000)
    p.add_argument("--write", help="the benchmarks page whose on-demand section to replace")
    args = p.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    command = " ".join(["/usr/bin/python3", "bench/on_demand_benchmark.py", *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="quiver-on-demand-") as work:
        maker = pathlib.Path(work) / "make_tiny.py"  # TorchScript wants the source in a file
        maker.write_text(MAKER)
        subprocess.run([sys.executable, str(maker), str(pathlib.Path(work) / "tiny.pt")], check=True)
        results = {"routing": routing_section()}
        results["scale"] = scale_section(work, args)
        results["listing"] = listing_section(work, args)
    section = render(results, command, started)
    print(section)
    if args.write:
        page = pathlib.Path(args.write)
        plot(results, page.parent / "images")
        text = page.read_text()
        if BEGIN in text and END in text:
            text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
        else:
            text = text.rstrip("\n") + "\n\n" + section
        page.write_text(text)


if __name__ == "__main__":
    main()
