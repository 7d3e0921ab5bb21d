"""The S3 remote artifact copies against a real S3-compatible server: starts s3rver
(tests/s3, pinned by its lockfile) on loopback and runs the S3ArtifactsTest gtest cases
against it. They skip themselves without a server, so this test also checks that every
one of them ran and none was skipped."""
import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
S3_DIR = ROOT / "tests" / "s3"
BUILD = pathlib.Path(os.environ.get("QUIVER_BINARY_DIR", ROOT / "build"))
GTEST = BUILD / "tests" / "unit" / "quiver_store_tests"
BUCKET = "quiver-test"
# The cases in tests/unit/store/s3_artifacts_test.cc that need the server.
EXPECTED_CASES = {
    "MultiMegabyteFileRoundTripsIntoAnotherReplicasBlobStore",
    "ExistsIsTrueOnlyAfterAPut",
    "UnknownShaIsNotFoundAndLeavesNothing",
    "WrongCredentialsArePermissionDeniedWithTheS3ErrorCode",
    "TamperedObjectIsDataLossAndLeavesNothing",
    "PutRefusesAFileThatDoesNotHashToTheShaAndStoresNothing",
    "SpecAndEnvironmentCredentialsOpenTheSameStore",
}

pytestmark = pytest.mark.skipif(
    not (S3_DIR / "node_modules" / "s3rver").is_dir(),
    reason="tests/s3/node_modules is missing: run (cd tests/s3 && npm ci --no-audit --no-fund)")


@pytest.fixture
def s3_endpoint(tmp_path):
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install-deps.sh installs nodejs)"
    data = tmp_path / "s3rver"
    data.mkdir()
    log = open(tmp_path / "s3rver.log", "wb")
    proc = subprocess.Popen([node, str(S3_DIR / "start.js"), "--port", "0", "--directory", str(data),
                             "--bucket", BUCKET],
                            stdout=subprocess.PIPE, stderr=log, cwd=S3_DIR)
    try:
        deadline = time.time() + 30
        endpoint = None
        while time.time() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                break
            if line.startswith("ready "):
                endpoint = line.split()[1]
                break
        assert endpoint, "s3rver did not start: " + (tmp_path / "s3rver.log").read_text()
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_s3_artifact_cases_pass_against_a_real_s3_server(s3_endpoint, tmp_path):
    assert GTEST.exists(), f"{GTEST} is missing: build it with scripts/build.sh quiver_store_tests"
    report = tmp_path / "gtest.json"
    env = dict(os.environ,
               QUIVER_SOURCE_DIR=str(ROOT), QUIVER_BINARY_DIR=str(BUILD),
               QUIVER_TEST_S3_ENDPOINT=s3_endpoint, QUIVER_TEST_S3_BUCKET=BUCKET,
               QUIVER_TEST_S3_ACCESS_KEY="S3RVER", QUIVER_TEST_S3_SECRET_KEY="S3RVER",
               QUIVER_TEST_S3_REGION="us-east-1")
    run = subprocess.run([str(GTEST), "--gtest_filter=S3ArtifactsTest.*", f"--gtest_output=json:{report}"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]

    cases = [case for suite in json.loads(report.read_text())["testsuites"] for case in suite["testsuite"]]
    by_name = {case["name"]: case for case in cases}
    assert set(by_name) == EXPECTED_CASES, f"ran {sorted(by_name)}"
    skipped = [name for name, case in by_name.items() if case.get("result") != "COMPLETED"]
    assert not skipped, f"skipped although the server was running: {skipped}\n{run.stdout[-4000:]}"
    failed = [name for name, case in by_name.items() if case.get("failures")]
    assert not failed, f"failed: {failed}\n{run.stdout[-6000:]}"
