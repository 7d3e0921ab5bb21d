"""Quiver beside a real Prometheus: the shipped alert rules and Grafana dashboard
parse with promtool and name only metrics Quiver exports, /metrics passes promtool's
lint, and Debian's prometheus scrapes a server under load and sees the traffic split."""
import collections
import json
import pathlib
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests
import yaml

from conftest import ROOT, find_model

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "quiver.json"
X = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -0.2, 0.1, 0.9]}]

# Cluster metrics come with PostgreSQL replicas (a later change); alerts.yml already
# names them, so they are allowed there and nowhere else.

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian's prometheus is not installed")


def promtool(*args, stdin=None, cwd=None):
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, text=True, cwd=cwd, timeout=60)


def registered_metric_names():
    """Every family the server's source registers (some appear only after an event:
    an ejection, a worker restart, a rollout), plus the collector-made process_* ones."""
    names = set()
    for source in (ROOT / "src").rglob("*.cc"):
        text = source.read_text()
        names.update(re.findall(r'(?:counter|gauge|histogram)\(\s*(?:\w+\s*\?\s*)?"((?:quiver|process)_[a-z0-9_]+)"',
                                text))
        names.update(re.findall(r':\s*"(quiver_[a-z0-9_]+)"', text))  # the ternary's other branch
    names.update(re.findall(r'"(process_[a-z0-9_]+)"', (ROOT / "src" / "metrics" / "process_metrics.cc").read_text()))
    return names


def metric_names_in(expr):
    """Metric names a PromQL expression reads, histogram suffixes folded into the family."""
    names = set(re.findall(r"\b((?:quiver|process)_[a-z0-9_]+)\b", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.endswith(("_bucket", "_sum", "_count")) else n
            for n in names}


def family_exported(name, exported):
    return name in exported or re.sub(r"_(bucket|sum|count)$", "", name) in exported


def dashboard_exprs():
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    exprs.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(DASHBOARD.read_text()))
    return exprs


def substitute_grafana_variables(expr):
    """What Grafana does before sending a query: template variables become values."""
    for var, value in (("$__rate_interval", "1m"), ("$__interval", "15s"), ("$__range", "1h"),
                       ("${model}", ".*"), ("$model", ".*"), ("${version}", ".*"), ("$version", ".*"),
                       ("${job}", ".*"), ("$job", ".*")):
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


# ---- static checks -----------------------------------------------------------------

def test_alert_rules_pass_promtool_check_and_their_unit_tests():
    checked = promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS_DIR)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    tested = promtool("test", "rules", "alerts_test.yml", cwd=PROMETHEUS_DIR)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert of the file is exercised by a unit test.
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())
    tested_alerts = {t["alertname"] for case in tests["tests"] for t in case.get("alert_rule_test", [])}
    assert alerts == tested_alerts, alerts ^ tested_alerts
    for name in ("QuiverVersionErrorRateHigh", "QuiverVersionLatencyP99AboveSlo", "QuiverVersionEjected",
                 "QuiverRolloutAborted", "QuiverRolloutStuck", "QuiverReplicaLagging", "QuiverReplicaLostRegistry",
                 "QuiverWorkerRestartLoop"):
        assert name in alerts


def test_alert_unit_tests_catch_a_wrong_threshold(tmp_path):
    """The unit tests bite: an error-rate alert that waits for 50% instead of 5% fails them."""
    rules = (PROMETHEUS_DIR / "alerts.yml").read_text()
    assert rules.count(") > 0.05") == 1
    (tmp_path / "alerts.yml").write_text(rules.replace(") > 0.05", ") > 0.5"))
    shutil.copy(PROMETHEUS_DIR / "alerts_test.yml", tmp_path / "alerts_test.yml")
    tested = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0 and "QuiverVersionErrorRateHigh" in tested.stdout + tested.stderr


def test_alert_rules_read_only_metrics_quiver_exports():
    exported = registered_metric_names()
    rules = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            used |= metric_names_in(rule["expr"])
    unknown = {n for n in used if not family_exported(n, exported)}
    assert not unknown, f"alerts.yml reads metrics Quiver does not export: {sorted(unknown)}"


def test_grafana_dashboard_is_importable_and_every_query_parses(tmp_path):
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 36 and board["title"] and board["uid"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"model", "version"} <= set(variables)
    for panel in board["panels"]:  # every query goes to the chosen data source
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]
    panel_ids = [p["id"] for p in board["panels"]]
    assert len(panel_ids) == len(set(panel_ids)), "panel ids must be unique"
    titles = " ".join(p["title"].lower() for p in board["panels"])
    for topic in ("requests", "latency", "error", "batch", "queue", "shadow", "quality", "rollout"):
        assert topic in titles, topic

    exprs = dashboard_exprs()
    assert len(exprs) >= 20
    # promtool parses each query as a recording rule; one bad query fails the file.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": substitute_grafana_variables(e)} for i, e in enumerate(exprs)]}]}
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    checked = promtool("check", "rules", str(rule_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    exported = registered_metric_names()
    used = set()
    for e in exprs:
        used |= metric_names_in(e)
    for v in variables.values():  # label_values(<selector>, label) reads metrics too
        used |= metric_names_in(v.get("definition", ""))
    unknown = {n for n in used if not family_exported(n, exported)}
    assert not unknown, f"the dashboard reads metrics Quiver does not export: {sorted(unknown)}"
    # The main families are all on the board.
    for family in ("quiver_inference_requests_total", "quiver_inference_latency_seconds", "quiver_batch_size",
                   "quiver_queue_seconds", "quiver_shadow_top1_agreement", "quiver_version_quality",
                   "quiver_rollout_state", "process_resident_memory_bytes"):
        assert family in used, family


def test_a_broken_query_is_caught(tmp_path):
    """The dashboard check above can fail: promtool refuses a malformed expression."""
    rule_file = tmp_path / "bad.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "x:y", "expr": "sum by (model (rate(quiver_inference_requests_total[1m]))"}]}]}))
    assert promtool("check", "rules", str(rule_file)).returncode != 0


# ---- a live server -------------------------------------------------------------------

@pytest.fixture
def iris_split(server, example_models):
    """iris v1 and v2 live at 80/20 on a fresh server."""
    models_dir, manifest = example_models
    for tag in ("v1", "v2"):
        entry = find_model(manifest, "iris", tag, "torchscript")
        server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                        outputs=entry["outputs"])
    server.deploy("iris", {"versions": [{"version": 1}, {"version": 2}],
                           "traffic": [{"version": 1, "weight": 80}, {"version": 2, "weight": 20}]})
    return server


def test_live_metrics_pass_promtool_lint(iris_split):
    server = iris_split
    with requests.Session() as s:
        for _ in range(20):
            assert s.post(server.url + "/v2/models/iris/infer", json={"inputs": X}, timeout=30).status_code == 200
    text = server.get("/metrics").text
    linted = promtool("check", "metrics", stdin=text)
    assert linted.returncode == 0 and linted.stdout.strip() == "" and linted.stderr.strip() == "", \
        linted.stdout + linted.stderr

    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            samples[name_labels] = float(value)
    assert samples["process_resident_memory_bytes"] > 50e6  # libtorch alone is bigger
    assert samples["process_virtual_memory_bytes"] >= samples["process_resident_memory_bytes"]
    assert samples["process_cpu_seconds_total"] > 0
    assert 3 <= samples["process_open_fds"] < samples["process_max_fds"]
    assert abs(samples["process_start_time_seconds"] - time.time()) < 600
    build = [k for k in samples if k.startswith("quiver_build_info{")]
    assert len(build) == 1 and samples[build[0]] == 1
    assert re.search(r'commit="[0-9a-f]{7,40}|commit="unknown"', build[0]) and 'version="0.1.0"' in build[0]
    assert 'compiler="' in build[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus(tmp_path, iris_split):
    """Debian's prometheus on loopback, scraping the server every second, with the
    shipped alert rules loaded."""
    if shutil.which("prometheus") is None:
        pytest.skip("Debian's prometheus is not installed")
    target = iris_split.url.removeprefix("http://")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
        "scrape_configs": [{"job_name": "quiver", "static_configs": [{"targets": [target]}]}],
    }))
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("prometheus did not become ready")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def query(url, expr):
    r = requests.get(url + "/api/v1/query", params={"query": expr}, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_real_prometheus_sees_per_version_rates_that_follow_the_split(iris_split, prometheus):
    server = iris_split
    wait_for(lambda: query(prometheus, 'up{job="quiver"} == 1'), 15, "the first successful scrape")

    # A few hundred requests spread over several scrapes.
    counts = collections.Counter()
    started = time.time()
    with requests.Session() as s:
        for i in range(400):
            r = s.post(server.url + "/v2/models/iris/infer", json={"inputs": X}, timeout=30)
            assert r.status_code == 200, r.text
            counts[r.headers["x-quiver-model-version"]] += 1
            if i % 50 == 49:  # keep the load going across at least ~4 scrapes
                time.sleep(max(0.0, (i + 1) / 80 - (time.time() - started)))
    # Wait until Prometheus has a sample with every request in it.
    wait_for(lambda: query(prometheus, 'sum(quiver_inference_requests_total{job="quiver",model="iris"}) >= 400'),
             15, "a scrape after the load")

    rates = query(prometheus, 'sum by (version) (rate(quiver_inference_requests_total{job="quiver",model="iris"}[30s]))')
    by_version = {r["metric"]["version"]: float(r["value"][1]) for r in rates}
    assert set(by_version) == {"1", "2"}, rates
    total = by_version["1"] + by_version["2"]
    assert total > 0, rates
    # The rates split like the requests did (same scrapes, so the same extrapolation),
    # and like the configured 80/20 within sampling noise.
    observed = counts["1"] / (counts["1"] + counts["2"])
    assert abs(by_version["1"] / total - observed) < 0.05, (by_version, counts)
    assert abs(by_version["1"] / total - 0.8) < 0.1, (by_version, counts)

    # Latency quantiles and process metrics come through too; the shipped rules loaded.
    p99 = query(prometheus, 'histogram_quantile(0.99, sum by (version, le) '
                            '(rate(quiver_inference_latency_seconds_bucket{model="iris"}[30s])))')
    assert {r["metric"]["version"] for r in p99} == {"1", "2"}
    assert all(0 < float(r["value"][1]) < 10 for r in p99), p99
    assert float(query(prometheus, 'process_resident_memory_bytes{job="quiver"}')[0]["value"][1]) > 50e6
    assert query(prometheus, 'quiver_build_info{job="quiver"} == 1')
    groups = requests.get(prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = [rule for g in groups for rule in g["rules"]]
    assert len(loaded) >= 12 and all(rule["health"] in ("ok", "unknown") for rule in loaded), loaded
