"""Section g of the benchmark suite: deciding by evidence on the request path.

Imported by bench/run_benchmarks.py, whose Suite calls run(suite, bench) and whose
render() calls render(suite, bench); `bench` is that runner module, for its server
wrapper and its report helpers.

Two questions:
  1. Does routing with a live rollout or a bandit stay under 1 us per decision?
     `bench/routing_bench` times ModelRoute::route for plain weighted routing, the
     route a live rollout writes and a three-armed bandit's route.
  2. Is served throughput within 5 % of plain weighted routing? One server with iris
     v1 and v2 loaded, the same closed-loop load (`quiver bench`, binary tensors)
     under three deployments, alternated for ROUNDS rounds, medians compared:
       plain    traffic 50/50 between v1 and v2
       rollout  baseline v1, candidate v2, parked at a manual gate at weight 50,
                retry_on_baseline, analysis (error_rate, latency_p99) every 250 ms
       bandit   arms [1, 2], Thompson sampling, warmup_per_arm 0, tick 250 ms: with
                no feedback the posterior draws differ every tick, so new shares are
                published as a new route snapshot about four times a second (the
                request path's worst case: a fresh snapshot to pick up each tick)
"""

import json
import os
import statistics
import subprocess
import time

ROUTING_FILTER = "BM_Route(WeightedTwoVersions|LiveRollout|BanditThreeArms)$"
ROUTING = (("plain weighted (2 versions, 90/10)", "BM_RouteWeightedTwoVersions"),
           ("live rollout (5 % step, 100 % mirror, retry_on_baseline)", "BM_RouteLiveRollout"),
           ("bandit (3 arms, shares as weights)", "BM_RouteBanditThreeArms"))
CONCURRENCY = "8"
# More rounds than the suite's ROUNDS (3): a 5 % comparison of three deployments on a
# shared two-core machine, where one run can differ from the next by 20 % or more.
ROUNDS = 5
TICK = "250ms"
VERSIONS = [{"version": "1", "instances": 1}, {"version": "2", "instances": 1}]
SPECS = (
    ("plain weighted 50/50", {"versions": VERSIONS,
                              "traffic": [{"version": "1", "weight": 50}, {"version": "2", "weight": 50}]}),
    ("live rollout at a manual gate (50 %)", {"versions": VERSIONS, "rollout": {
        "baseline": "1", "candidate": "2", "steps": [{"weight": 50, "pause": "manual"}],
        "retry_on_baseline": True, "on_failure": "pause",
        "analysis": {"tick": TICK, "window": "10s", "min_samples": 30, "alpha": 0.01,
                     "metrics": [{"name": "error_rate", "max_increase": 0.01},
                                 {"name": "latency_p99", "max_ratio": 1.5}]}}}),
    ("bandit, Thompson, 2 arms", {"versions": VERSIONS, "bandit": {
        "arms": ["1", "2"], "policy": "thompson", "warmup_per_arm": 0, "tick": TICK}}),
)
PLAIN, ROLLOUT, BANDIT = (label for label, _ in SPECS)


# ---- measuring ------------------------------------------------------------

def run(suite, bench):
    routing_decisions(suite, bench)
    served_throughput(suite, bench)


def routing_decisions(suite, bench):
    bench.say("g. routing decision with a live rollout and a bandit (routing_bench)")
    argv = [f"{suite.build}/bench/routing_bench", "--benchmark_format=json",
            f"--benchmark_filter={ROUTING_FILTER}", "--benchmark_min_time=0.3", "--benchmark_repetitions=5",
            "--benchmark_report_aggregates_only=true"]
    out = bench.run_json(argv, suite.log, "g")
    medians = {b["run_name"]: b for b in out["benchmarks"] if b.get("aggregate_name") == "median"}
    rows = []
    for label, name in ROUTING:
        b = medians[name]
        scale = {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]]
        rows.append({"label": label, "name": name, "ns": b["real_time"] * scale})
    suite.results.setdefault("g", {})["routing"] = rows


def per_version_requests(server):
    """quiver_inference_requests_total of iris, per version."""
    counts = {}
    for line in server.http.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("quiver_inference_requests_total{") and 'model="iris"' in line:
            version = line.split('version="', 1)[1].split('"', 1)[0]
            counts[version] = counts.get(version, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def cpu_seconds(pid):
    """User + system CPU time the process has used so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(server, label, revision, timeout=60):
    """Until the deployment is ready and serves `revision` or a later one (the rollout
    controller writes a revision of its own for the step), and, for the rollout, until
    it is progressing at step 0 with half the traffic; for the bandit, until it has
    published shares."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        serving, state = server.serving_revision("iris")
        ready = server.http.get(f"{server.url}/v2/models/iris/ready").json().get("ready")
        if serving >= revision and state == "ready" and ready:
            if label == PLAIN:
                return
            last = control_status(server, label)
            if label == ROLLOUT and last.get("state") == "progressing" and last.get("step") == 0 \
                    and abs(last.get("candidate_share", 0) - 0.5) < 1e-9:
                return
            if label == BANDIT and last.get("arms") and all(a["share"] > 0 for a in last["arms"]):
                return
        time.sleep(0.05)
    raise RuntimeError(f"g: '{label}' revision {revision} not ready within {timeout} s: {last}")


def control_status(server, label):
    path = {ROLLOUT: "rollout", BANDIT: "bandit"}.get(label)
    if not path:
        return {}
    answer = server.http.get(f"{server.url}/v1/deployments/iris/{path}")
    return answer.json() if answer.ok else {"error": answer.text}


def measure(suite, bench, server, label, spec, first):
    """Applies `spec`, waits until it serves, then one `quiver bench` run; the
    rollout's or bandit's status is read halfway through the measured time and at the
    end, the requests each version answered are counted from /metrics and the server's
    CPU time over the run is divided by them (a measure that other work on a shared
    machine disturbs less than throughput, and one that includes the controllers'
    ticks). The
    commands are recorded in the first round only (the others repeat them)."""
    argv = [suite.quiver, "bench", "iris", "--server", server.url, "--json", "--binary",
            "--concurrency", CONCURRENCY, "--duration", suite.duration()]
    if first:
        suite.log.record("g", ["curl", "-X", "PUT", f"{server.url}/v1/deployments/iris", "-d", json.dumps(spec)],
                         comment=f"{label}: then poll GET /v1/deployments/iris until ready"
                                 + {ROLLOUT: " and GET .../rollout until progressing at step 0",
                                    BANDIT: " and GET .../bandit until shares are published"}.get(label, ""))
        suite.log.record("g", argv, comment=f"once per round, {ROUNDS} rounds")
    revision = server.deploy("iris", spec, wait=False)
    wait_ready(server, label, revision)
    before, cpu_before = per_version_requests(server), cpu_seconds(server.proc.pid)
    proc = subprocess.Popen(argv, cwd=bench.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1 + suite.args.duration / 2)  # 1 s of warmup, then half the measured time
    during = control_status(server, label)
    stdout, stderr = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise RuntimeError(f"quiver bench failed under '{label}': {stderr.strip()[-2000:]}")
    after_status = control_status(server, label)
    after, cpu_after = per_version_requests(server), cpu_seconds(server.proc.pid)
    served = {v: after.get(v, 0) - before.get(v, 0) for v in after}
    total = sum(served.values()) or 1
    level = json.loads(stdout)["levels"][0]
    return {"level": level, "v2_share": served.get("2", 0) / total, "cpu_us": (cpu_after - cpu_before) * 1e6 / total,
            "during": during, "after": after_status, "revision": revision}


def served_throughput(suite, bench):
    bench.say("g. served throughput: plain weighted vs live rollout vs bandit")
    server = bench.QuiverServer(suite.build, suite.log, "g")
    load_before = os.getloadavg()[0]
    try:
        server.push("iris", suite.model("iris_v1.pt"), 1, bench.IRIS_IN, bench.IRIS_OUT)
        server.push("iris", suite.model("iris_v2.pt"), 2, bench.IRIS_IN, bench.IRIS_OUT)
        out = {label: [] for label, _ in SPECS}
        # Alternating rounds, as in b and e: a burst of other work on the shared machine
        # lands on every deployment rather than on one. The order rotates from round to
        # round, so no deployment always runs first or always follows the same one. Every
        # round re-applies its spec: each rollout round starts a fresh rollout, each
        # bandit round a fresh bandit.
        for i in range(ROUNDS):
            for label, spec in SPECS[i % len(SPECS):] + SPECS[:i % len(SPECS)]:
                out[label].append(measure(suite, bench, server, label, spec, first=i == 0))
        suite.results.setdefault("g", {})["served"] = out
        suite.results["g"]["load"] = [load_before, os.getloadavg()[0]]
    finally:
        server.stop()


# ---- the report ---------------------------------------------------------------

def rollout_note(st, verdicts=False):
    if not st or "state" not in st:
        return f"no rollout status ({st})"
    note = f"{st['state']} at step {st.get('step')}, candidate {st.get('candidate_share', 0):.0%}"
    metrics = st.get("metrics", [])
    if verdicts and metrics:
        note += "; " + ", ".join(f"{m['name']} {m['verdict']}" for m in metrics)
        note += f" (n {max(m['n'] for m in metrics)})"
    return note


def bandit_note(st):
    if not st or "arms" not in st:
        return f"no bandit status ({st})"
    return " / ".join(f"v{a['version']} {a['share']:.2f}" for a in st["arms"])


def render(suite, bench):
    g = suite.results["g"]
    out = []
    add = out.append
    add("## g. Deciding by evidence on the request path\n")
    add("A live rollout and a bandit decide outside the request path: the rollout controller analyses every "
        "tick and writes a route when a step changes, the bandit turns feedback into shares every tick and "
        "publishes them as route weights. The request path keeps the weighted pick. Goals: a routing decision "
        "under 1 us with a live rollout or a bandit, and served throughput within 5 % of plain weighted "
        "routing.\n")

    if "routing" in g:
        rows = g["routing"]
        plain_ns = rows[0]["ns"]
        worst = max(r["ns"] for r in rows[1:])
        add("### Routing decision (`bench/routing_bench`)\n")
        add("One `ModelRoute::route` call on the route each policy publishes, with typical request metadata "
            "(three headers, two parameters); the median of 5 repetitions of at least 0.3 s each.\n")
        add("| route | benchmark | ns per decision | / plain weighted |")
        add("|---|---|---|---|")
        for r in rows:
            add(f"| {r['label']} | {r['name']} | {r['ns']:.1f} | {r['ns'] / plain_ns:.2f}x |")
        add("")
        add(f"Slowest decision with a rollout or a bandit: **{worst:.0f} ns** (goal < 1 us: "
            f"{bench.verdict(worst < 1000)}). The rollout's route also carries its 100 % mirror, so its decision "
            "includes picking the shadow copy.\n")

    if "served" in g:
        served = g["served"]
        med = {label: (bench.median_tput([m["level"] for m in runs]),
                       bench.median_ms([m["level"] for m in runs], "p50"),
                       bench.median_ms([m["level"] for m in runs], "p99")) for label, runs in served.items()}
        plain_tput = med[PLAIN][0]
        add(f"### Served throughput (iris, binary tensors, {CONCURRENCY} connections)\n")
        add("One server with iris v1 and v2 loaded (one instance each); `quiver bench iris --binary --concurrency "
            f"{CONCURRENCY}` through the routed endpoint under three deployments, applied in turn and alternated for "
            f"{ROUNDS} rounds (each round re-applies its deployment and waits until "
            "`GET /v1/deployments/iris` says ready); ratios use the medians over the rounds.\n")
        add("- **plain weighted**: `traffic: [{version: 1, weight: 50}, {version: 2, weight: 50}]`.")
        add("- **live rollout**: `rollout: {baseline: 1, candidate: 2, steps: [{weight: 50, pause: manual}], "
            "retry_on_baseline: true, analysis: {tick: 250ms, window: 10s, metrics: [error_rate max_increase 0.01, "
            "latency_p99 max_ratio 1.5]}}`: parked at its manual gate with half the traffic while the controller "
            "analyses both versions every tick. Its status is read halfway through and at the end of each run.")
        add("- **bandit**: `bandit: {arms: [1, 2], policy: thompson, warmup_per_arm: 0, tick: 250ms}`. No feedback "
            "arrives, so each tick's Thompson draws give slightly different shares and a new route snapshot is "
            "published about four times a second. Shares are read halfway through and at the end of each run.\n")
        add("| deployment | round | infer/s | p50 ms | p90 ms | p99 ms | errors | server CPU us / request "
            "| v2 share served | rollout / bandit status: halfway / at the end |")
        add("|---|---|---|---|---|---|---|---|---|---|")
        for label, runs in served.items():
            for i, m in enumerate(runs, 1):
                level = m["level"]
                if label == ROLLOUT:
                    note = f"{rollout_note(m['during'])} / {rollout_note(m['after'], verdicts=True)}"
                elif label == BANDIT:
                    note = f"{bandit_note(m['during'])} / {bandit_note(m['after'])}"
                else:
                    note = "-"
                add(f"| {label} | {i} | {level['throughput_infer_per_s']:.0f} | {bench.ms(level, 'p50'):.3f} "
                    f"| {bench.ms(level, 'p90'):.3f} | {bench.ms(level, 'p99'):.3f} | {level['errors']} "
                    f"| {m['cpu_us']:.1f} | {m['v2_share']:.1%} | {note} |")
        add("")
        cpu = {label: statistics.median(m["cpu_us"] for m in runs) for label, runs in served.items()}
        add("| deployment | median infer/s | median p50 ms | median p99 ms | median server CPU us / request "
            "| throughput / plain weighted | goal >= 0.95 (at most 5 % below plain) | CPU per request / plain weighted |")
        add("|---|---|---|---|---|---|---|---|")
        ratios, cpu_ratios = [], []
        for label, (tput, p50, p99) in med.items():
            ratio, cpu_ratio = tput / plain_tput, cpu[label] / cpu[PLAIN]
            if label == PLAIN:
                add(f"| {label} | {tput:.0f} | {p50:.3f} | {p99:.3f} | {cpu[label]:.1f} | 1.00 | - | 1.00 |")
                continue
            ratios.append(ratio)
            cpu_ratios.append(cpu_ratio)
            add(f"| {label} | {tput:.0f} | {p50:.3f} | {p99:.3f} | {cpu[label]:.1f} | **{ratio:.3f}** "
                f"| {bench.verdict(ratio >= 0.95)} | {cpu_ratio:.3f} |")
        add("")
        rollout_ok = all(st.get("state") == "progressing" and st.get("step") == 0
                         for m in served[ROLLOUT] for st in (m["during"], m["after"]))
        spread = max((max(t) - min(t)) / statistics.median(t)
                     for t in ([m["level"]["throughput_infer_per_s"] for m in runs] for runs in served.values()))
        add(f"Lowest throughput ratio: **{min(ratios):.3f}** (goal >= 0.95: {bench.verdict(min(ratios) >= 0.95)}); "
            f"highest server CPU per request relative to plain weighted: **{max(cpu_ratios):.3f}**. The rollout was "
            + ("progressing at step 0 halfway through and at the end of every round"
               if rollout_ok else "**not** progressing at step 0 throughout (see the table)")
            + ". The server, the load generator and other work on the machine share two cores, and the rounds "
            f"of one deployment differ in throughput by up to {spread:.0%} of their median; the rotated, "
            "alternated rounds spread that noise over all three deployments (load average "
            f"{g['load'][0]:.1f} when these runs started, {g['load'][1]:.1f} when they ended). The server's CPU time per request "
            "(its user + system time over the run from /proc, divided by the requests it answered, warmup "
            "included) counts what the server itself spends, the controllers' ticks included; other work on the "
            "machine disturbs it less than throughput, though it still moves from round to round.\n")
    add(bench.commands_block(suite.log, "g"))
    return out
