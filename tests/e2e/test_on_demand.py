"""On-demand loading and eviction (`load: on_demand`, memory budgets) and paginated
listings, against the real binary.

Memory sizes are the server's own measurements (quiver_model_resident_bytes), read
back before a budget is chosen, so the tests hold whatever the machine's allocator
does: a budget is set between two measured totals and the test checks which versions
the server keeps."""
import concurrent.futures
import json
import re
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import requests

from conftest import BINARY

SIG = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
       "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, 3]}]}
X = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -0.2, 0.1, 0.9]}]

# TorchScript needs the module source in a file: written out, then run once to make
# every model the tests use.
MAKER = textwrap.dedent('''
    import sys
    import torch
    from torch import nn

    class Tiny(nn.Module):
        """4 -> 3 linear layer plus a 256 KiB buffer, so each version has real weight."""
        def __init__(self, seed: int):
            super().__init__()
            torch.manual_seed(seed)
            self.lin = nn.Linear(4, 3)
            self.register_buffer("ballast", torch.randn(65536))

        def forward(self, input: torch.Tensor) -> torch.Tensor:
            return self.lin(input) + self.ballast[0] * 0.0

    class Slow(nn.Module):
        """Like Tiny, but first spins 4 x input[0, 0] small matrix products: a request that stays
        in flight for as long as the test needs."""
        def __init__(self, seed: int):
            super().__init__()
            torch.manual_seed(seed)
            self.lin = nn.Linear(4, 3)

        def forward(self, input: torch.Tensor) -> torch.Tensor:
            a = torch.ones(200, 200)
            for _ in range(int(input[0, 0].item()) * 4):
                a = torch.tanh(a @ a / 200.0)
            return self.lin(input) + a[0, 0] * 0.0

    out = sys.argv[1]
    for seed in range(1, 5):
        torch.jit.script(Tiny(seed)).save(f"{out}/tiny{seed}.pt")
    torch.jit.script(Slow(9)).save(f"{out}/slow.pt")
''')


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("on_demand_models")
    maker = out / "make.py"
    maker.write_text(MAKER)
    subprocess.run([sys.executable, str(maker), str(out)], check=True)
    return out


def metric(server, name, model, version):
    text = server.get("/metrics").text
    m = re.search(rf'^{name}{{model="{model}",version="{version}"}} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def resident(server, model, versions):
    """Versions whose measured resident bytes are non-zero (loaded now)."""
    return {v for v in versions if metric(server, "quiver_model_resident_bytes", model, v) > 0}


def wait_until(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def register_tiny(server, models, model, seeds):
    for seed in seeds:
        server.register(model, models / f"tiny{seed}.pt", "torchscript", version=seed, **SIG)


def on_demand_spec(versions, budget=None):
    spec = {"versions": [{"version": v, "load": "on_demand"} for v in versions]}
    if budget is not None:
        spec["memory_budget"] = budget
    return spec


def test_concurrent_first_requests_share_one_load_and_all_succeed(server, models):
    register_tiny(server, models, "cold", [1])
    status = server.deploy("cold", on_demand_spec([1]))
    assert status["status"]["versions"][0]["ready_instances"] == 0, "nothing loads before the first request"
    assert metric(server, "quiver_model_loads_total", "cold", 1) == 0

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: server.infer("cold", X, version=1), range(8)))
    assert [r.status_code for r in answers] == [200] * 8, [r.text for r in answers]
    outputs = {tuple(r.json()["outputs"][0]["data"]) for r in answers}
    assert len(outputs) == 1
    assert metric(server, "quiver_model_loads_total", "cold", 1) == 1
    assert "quiver_cold_start_seconds_count{model=\"cold\",version=\"1\"} 1" in server.get("/metrics").text
    # Routed requests find it too, and it now reports its instance.
    assert server.infer("cold", X).status_code == 200
    st = server.get("/v1/deployments/cold").json()["status"]
    assert st["versions"][0]["ready_instances"] == 1


def test_least_recently_used_is_evicted_and_the_budget_holds(server, models):
    register_tiny(server, models, "lru", [1, 2, 3])
    server.deploy("lru", on_demand_spec([1, 2, 3]))
    for v in (1, 2, 3):
        assert server.infer("lru", X, version=v).status_code == 200
    sizes = {v: metric(server, "quiver_model_resident_bytes", "lru", v) for v in (1, 2, 3)}
    assert all(s >= 256 * 1024 for s in sizes.values()), sizes  # never below the artifact's size
    assert server.infer("lru", X, version=1).status_code == 200  # LRU order now: 2, 3, 1

    # A budget that fits all but version 2: applying it evicts exactly version 2.
    budget = int(sizes[1] + sizes[3] + sizes[2] // 2)
    server.deploy("lru", on_demand_spec([1, 2, 3], budget))
    assert wait_until(lambda: resident(server, "lru", (1, 2, 3)) == {1, 3}), resident(server, "lru", (1, 2, 3))
    assert metric(server, "quiver_model_evictions_total", "lru", 2) == 1

    # Version 2 comes back on its next request (answered), and 3, now the least
    # recently used, makes room for it.
    assert server.infer("lru", X, version=2).status_code == 200
    assert resident(server, "lru", (1, 2, 3)) == {1, 2}
    assert metric(server, "quiver_model_loads_total", "lru", 2) == 2
    total = sum(metric(server, "quiver_model_resident_bytes", "lru", v) for v in (1, 2, 3))
    assert total <= budget


def test_a_version_with_work_in_flight_is_never_evicted(server, models):
    server.register("busy", models / "slow.pt", "torchscript", version=1, **SIG)
    register_tiny(server, models, "busy", [2])
    # One byte: every idle version is over budget and goes at the next pass.
    server.deploy("busy", on_demand_spec([1, 2], budget=1))
    slow_x = [dict(X[0], data=[400.0, 0.0, 0.0, 0.0])]  # seconds of work
    result = {}

    def slow_request():
        t0 = time.time()
        result["r"] = server.infer("busy", slow_x, version=1)
        result["seconds"] = time.time() - t0

    t = threading.Thread(target=slow_request)
    t.start()
    assert wait_until(lambda: resident(server, "busy", (1, 2)) == {1})
    # Meanwhile version 2 loads and answers; budget passes run (every second) while
    # version 1 still works: it must stay.
    for _ in range(3):
        assert server.infer("busy", X, version=2).status_code == 200
        if not t.is_alive():
            break
        time.sleep(0.3)
    t.join(60)
    assert result["r"].status_code == 200, result["r"].text
    assert result["seconds"] > 1.0, "the slow request was not slow enough to test anything"
    # Only now, idle, does version 1 go.
    assert wait_until(lambda: resident(server, "busy", (1, 2)) == set())
    assert metric(server, "quiver_model_evictions_total", "busy", 1) == 1


def test_a_failed_on_demand_load_fails_its_requests_clearly(server, models, tmp_path):
    # A TorchScript "artifact" that is not one: registering checks only the bytes' name.
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a model at all")
    server.register("broken", bogus, "torchscript", version=1, **SIG)
    server.deploy("broken", on_demand_spec([1]))
    r = server.infer("broken", X, version=1)
    assert r.status_code == 503, r.text
    assert "on demand failed" in r.json()["error"]


def test_listings_are_paginated_and_stable_under_inserts(server, models):
    for name in ("pa", "pb", "pc", "pd", "pe"):
        server.register(name, models / "tiny1.pt", "torchscript", **SIG)
    # The unpaginated listing keeps its shape: a plain array.
    assert isinstance(server.get("/v1/models").json(), list)

    first = server.get("/v1/models", params={"limit": 2}).json()
    assert [m["name"] for m in first["models"]] == ["pa", "pb"]
    # Models registered meanwhile, before and after the cursor, shift nothing.
    server.register("p0", models / "tiny1.pt", "torchscript", **SIG)
    server.register("pz", models / "tiny1.pt", "torchscript", **SIG)
    seen = [m["name"] for m in first["models"]]
    token = first["next_page_token"]
    while token:
        page = server.get("/v1/models", params={"limit": 2, "page_token": token}).json()
        seen += [m["name"] for m in page["models"]]
        token = page.get("next_page_token")
    assert seen == ["pa", "pb", "pc", "pd", "pe", "pz"]

    bad = server.get("/v1/models", params={"page_token": "zz"})
    assert bad.status_code == 400
    assert server.get("/v1/models", params={"limit": 0}).status_code == 400

    # One model's versions, a page at a time, with its usual fields.
    for _ in range(4):
        server.register("pa", models / "tiny1.pt", "torchscript", **SIG)
    versions, token = [], ""
    while True:
        params = {"limit": 2} | ({"page_token": token} if token else {})
        page = server.get("/v1/models/pa", params=params).json()
        assert page["name"] == "pa" and "aliases" in page
        versions += page["versions"]
        token = page.get("next_page_token")
        if not token:
            break
    assert versions == [1, 2, 3, 4, 5]

    # The CLI follows the pages and lists everything.
    out = subprocess.run([str(BINARY), "models", "--server", server.url, "--json"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    assert [m["name"] for m in json.loads(out)] == ["p0", "pa", "pb", "pc", "pd", "pe", "pz"]


def test_cli_follows_pages_past_one_thousand_models(server, models):
    # The CLI asks for pages of 1,000: one model more makes it follow a token.
    sha = server.upload(models / "tiny1.pt")

    def register(names):
        with requests.Session() as s:
            for name in names:
                r = s.post(server.url + f"/v1/models/{name}/versions", timeout=60,
                           json={"artifact": sha, "framework": "torchscript", **SIG})
                assert r.status_code == 201, r.text

    names = [f"bulk{i:04d}" for i in range(1001)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(register, [names[i::4] for i in range(4)]))
    out = subprocess.run([str(BINARY), "models", "--server", server.url, "--json"], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    assert [m["name"] for m in json.loads(out)] == names
