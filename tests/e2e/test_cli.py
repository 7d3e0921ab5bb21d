"""The `quiver` command line, driven as a user would: a subprocess talking to a real
server (found through QUIVER_SERVER), checked against the REST API."""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import BINARY, find_model


def quiver(server_url, *args, stdin=None):
    env = {**os.environ, "QUIVER_SERVER": server_url}
    return subprocess.run([str(BINARY), *map(str, args)], env=env, input=stdin, capture_output=True, text=True,
                          timeout=60)


def ok(result):
    assert result.returncode == 0, (result.args, result.returncode, result.stdout, result.stderr)
    return result.stdout


def table_rows(text, first_header):
    """The rows of the table whose header line starts with `first_header`, split on runs of spaces."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_header))
    header = lines[start].split()
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        rows.append(line.split())
    return header, rows


def single_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    return lines[0]


@pytest.fixture
def cli(server):
    return lambda *args, **kw: quiver(server.url, *args, **kw)


SPEC_CANARY = """\
model: iris
versions:
  - version: stable
  - version: 2
traffic:
  - version: stable
    weight: 90
  - version: 2
    weight: 10
"""

SPEC_ONLY_V2 = """\
model: iris
versions:
  - version: 2
"""

ROW = "input:FP32:1,4=0.1,0.2,0.3,0.4"
ROW_INPUTS = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.1, 0.2, 0.3, 0.4]}]


def test_push_alias_apply_status_infer_history_rollback(server, cli, example_models, tmp_path):
    models_dir, manifest = example_models
    ts_v1 = models_dir / find_model(manifest, "iris", "v1", "torchscript")["path"]
    onnx_v2 = models_dir / find_model(manifest, "iris", "v2", "onnx")["path"]

    # push: the version is printed, and the registry holds exactly what was pushed.
    out = ok(cli("push", ts_v1, "--model", "iris", "--input", "input:FP32:-1,4",
                 "--output", "probabilities:FP32:-1,3"))
    assert "version 1" in out
    record = server.get("/v1/models/iris/versions/1").json()
    assert record["framework"] == "torchscript"
    assert record["artifact"] == hashlib.sha256(ts_v1.read_bytes()).hexdigest()
    assert record["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert record["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    out = ok(cli("push", onnx_v2, "--model", "iris"))
    assert "version 2" in out
    assert server.get("/v1/models/iris/versions/2").json()["framework"] == "onnx"  # from the extension

    # models and alias
    header, rows = table_rows(ok(cli("models")), "MODEL")
    assert header[:2] == ["MODEL", "VERSIONS"] and rows[0][:2] == ["iris", "1,2"]
    ok(cli("alias", "iris", "stable", "1"))
    assert server.get("/v1/models").json() == [{"name": "iris", "versions": [1, 2], "aliases": {"stable": 1}}]
    assert "stable" in ok(cli("models"))
    assert json.loads(ok(cli("models", "--json"))) == server.get("/v1/models").json()

    # apply --dry-run shows the change and changes nothing.
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC_CANARY)
    out = ok(cli("apply", "-f", spec_file, "--dry-run"))
    assert "stable" in out and "90" in out and "10" in out
    assert server.get("/v1/deployments/iris").status_code == 404

    out = ok(cli("apply", "-f", spec_file, "--reason", "canary of v2"))
    assert "revision 1" in out
    deployment = server.get("/v1/deployments/iris").json()
    assert deployment["revision"] == 1
    assert [(v["version"], v["resolved_version"]) for v in deployment["versions"]] == [("stable", 1), ("2", 2)]
    assert [t["weight"] for t in deployment["traffic"]] == [90, 10]
    server.wait_deployment("iris", 1)

    # status: each version with its state and traffic.
    out = ok(cli("status", "iris"))
    assert "revision 1" in out and "ready" in out
    header, rows = table_rows(out, "VERSION")
    by_version = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_version["1"]["STATE"] == "ready" and by_version["1"]["TRAFFIC"] == "90%"
    assert by_version["2"]["STATE"] == "ready" and by_version["2"]["TRAFFIC"] == "10%"
    status_json = json.loads(ok(cli("status", "iris", "--json")))
    assert status_json["revision"] == 1 and status_json["status"]["state"] == "ready"

    # A second change, previewed first: the revision does not move on a dry run.
    spec_file.write_text(SPEC_ONLY_V2)
    out = ok(cli("apply", "-f", spec_file, "--dry-run"))
    assert "stable" in out  # the version that would go away is named
    assert server.get("/v1/deployments/iris").json()["revision"] == 1
    assert len(server.get("/v1/deployments/iris/history").json()) == 1
    assert "revision 2" in ok(cli("apply", "-f", spec_file, "--reason", "all on v2"))
    server.wait_deployment("iris", 2)
    out = ok(cli("apply", "-f", spec_file, "--dry-run"))
    assert "not change" in out or "no change" in out.lower()

    # infer: routed to the only deployed version, same answer as the REST API.
    out = ok(cli("infer", "iris", "--input", ROW))
    answer = json.loads(out)
    assert answer["model_name"] == "iris" and answer["model_version"] == "2"
    expected = server.infer("iris", ROW_INPUTS, version=2).json()["outputs"]
    assert answer["outputs"][0]["name"] == "probabilities" and answer["outputs"][0]["shape"] == [1, 3]
    assert answer["outputs"][0]["data"] == pytest.approx(expected[0]["data"], abs=1e-6)
    result = cli("infer", "iris", "--version", "stable", "--input", ROW)  # v1 is no longer deployed
    assert result.returncode != 0 and "not deployed" in single_error_line(result)

    # history: newest first, with the reasons given.
    out = ok(cli("history", "iris"))
    header, rows = table_rows(out, "REVISION")
    assert [row[0] for row in rows] == ["2", "1"]
    assert "all on v2" in out and "canary of v2" in out

    # rollback: a new revision with the previous spec, served again.
    out = ok(cli("rollback", "iris"))
    assert "revision 3" in out
    deployment = server.get("/v1/deployments/iris").json()
    assert deployment["revision"] == 3
    assert [v["version"] for v in deployment["versions"]] == ["stable", "2"]
    assert [t["weight"] for t in deployment["traffic"]] == [90, 10]
    server.wait_deployment("iris", 3)
    header, rows = table_rows(ok(cli("history", "iris")), "REVISION")
    assert [row[0] for row in rows] == ["3", "2", "1"]
    pinned = json.loads(ok(cli("infer", "iris", "--version", "1", "--input", ROW)))
    assert pinned["model_version"] == "1"


def test_status_lists_each_deployed_version_once(server, cli, example_models, tmp_path):
    """A version named through an alias is one version, shown once, with its live state."""
    models_dir, manifest = example_models
    ok(cli("push", models_dir / find_model(manifest, "iris", "v1", "onnx")["path"], "--model", "iris"))
    ok(cli("push", models_dir / find_model(manifest, "iris", "v2", "onnx")["path"], "--model", "iris"))
    ok(cli("alias", "iris", "stable", "1"))
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(SPEC_CANARY)
    ok(cli("apply", "-f", spec_file))
    server.wait_deployment("iris", 1)
    header, rows = table_rows(ok(cli("status", "iris")), "VERSION")
    states = {row[0]: dict(zip(header, row))["STATE"] for row in rows}
    assert len(rows) == 2, rows
    assert all(state == "ready" for state in states.values()), rows


def test_spec_from_stdin_as_json(server, cli, example_models):
    models_dir, manifest = example_models
    ok(cli("push", models_dir / find_model(manifest, "iris", "v1", "onnx")["path"], "--model", "iris"))
    ok(cli("apply", "-f", "-", "--model", "iris", stdin=json.dumps({"versions": [{"version": "1"}]})))
    assert server.get("/v1/deployments/iris").json()["versions"][0]["resolved_version"] == 1


def test_errors_are_one_line_on_stderr_with_a_meaningful_exit_code(server, cli, example_models, tmp_path):
    models_dir, manifest = example_models
    ok(cli("push", models_dir / find_model(manifest, "iris", "v1", "torchscript")["path"], "--model", "iris",
           "--input", "input:FP32:-1,4", "--output", "probabilities:FP32:-1,3"))
    ok(cli("apply", "-f", "-", "--model", "iris", stdin="versions:\n  - version: 1\n"))
    server.wait_deployment("iris", 1)

    result = cli("infer", "nope", "--input", ROW)
    assert result.returncode != 0 and result.stdout == ""
    assert "nope" in single_error_line(result)

    result = cli("infer", "iris", "--input", "input:FP32:1,5=1,2,3,4,5")
    assert result.returncode != 0
    assert "[1, 5]" in single_error_line(result)

    result = cli("infer", "iris", "--version", "9", "--input", ROW)
    assert result.returncode != 0
    assert "9" in single_error_line(result)

    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text("model: iris\nversions:\n  - version: 1\nreplicas: 3\n")
    result = cli("apply", "-f", spec_file)
    assert result.returncode != 0
    assert "replicas" in single_error_line(result)
    assert server.get("/v1/deployments/iris").json()["revision"] == 1

    result = cli("push", tmp_path / "missing.pt", "--model", "iris")
    assert result.returncode != 0
    single_error_line(result)
    assert server.get("/v1/models").json()[0]["versions"] == [1]

    result = cli("alias", "iris", "stable", "7")
    assert result.returncode != 0
    assert "7" in single_error_line(result)

    # Unreachable server: exit code 3, whether named by flag or by QUIVER_SERVER.
    for result in (cli("models", "--server", "http://127.0.0.1:1"),
                   cli("infer", "iris", "--input", ROW, "--server", "http://127.0.0.1:1"),
                   quiver("http://127.0.0.1:1", "status", "iris")):
        assert result.returncode == 3, (result.args, result.returncode, result.stderr)
        assert "127.0.0.1:1" in single_error_line(result)
