"""TLS on HTTP and gRPC, mutual TLS, the minimum version, certificate reload on SIGHUP
without dropping connections, and the separate management listener. Certificates are
made with the `openssl` command line in a temporary folder."""
import http.client
import importlib
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

import grpc
import pytest
import requests

from conftest import BINARY, ROOT, Server, find_model

GOOD_INPUTS = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]


# ---- certificates -------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Pki:
    """CAs and certificates in one folder; names are file stems (`<name>.pem`, `<name>.key`)."""

    def __init__(self, folder):
        self.dir = pathlib.Path(folder)

    def ca(self, name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=self.dir)
        return self

    def cert(self, name, cn, ca, server):
        ext = ("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" if server
               else "extendedKeyUsage=clientAuth\n")
        (self.dir / f"{name}.ext").write_text(ext)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/O=Quiver tests/CN={cn}", cwd=self.dir)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=self.dir)
        return self

    def path(self, name, kind="pem"):
        return str(self.dir / f"{name}.{kind}")

    def der(self, name):
        return ssl.PEM_cert_to_DER_cert((self.dir / f"{name}.pem").read_text())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.ca("ca").ca("ca2").ca("rogue")
    p.cert("server", "localhost", "ca", server=True)
    p.cert("server2", "localhost", "ca2", server=True)  # what a reload switches to
    p.cert("client", "client-a", "ca", server=False)
    p.cert("intruder", "intruder", "rogue", server=False)
    return p


def client_context(pki, ca="ca", cert=None, max_version=None, min_version=None):
    ctx = ssl.create_default_context(cafile=pki.path(ca))
    if cert:
        ctx.load_cert_chain(pki.path(cert), pki.path(cert, "key"))
    if max_version:
        ctx.maximum_version = max_version
    if min_version:
        ctx.minimum_version = min_version
    return ctx


class TlsServer(Server):
    """A `quiver serve` with TLS; its helpers speak HTTPS with a client certificate."""

    def __init__(self, data_dir, pki, extra_args=(), cert_files=None, client_cert="client"):
        self.pki = pki
        cert, key = cert_files or (pki.path("server"), pki.path("server", "key"))
        super().__init__(data_dir, ["--tls-cert", str(cert), "--tls-key", str(key)] + list(extra_args))
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override `verify`
        self.session.verify = pki.path("ca")
        if client_cert:
            self.session.cert = (pki.path(client_cert), pki.path(client_cert, "key"))

    def start(self, timeout=60):
        super().start(timeout)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.url = f"https://localhost:{self.port}"
        return self

    def get(self, path, **kw):
        return self.session.get(self.url + path, timeout=30, **kw)

    def post(self, path, **kw):
        return self.session.post(self.url + path, timeout=60, **kw)

    def put(self, path, **kw):
        return self.session.put(self.url + path, timeout=30, **kw)

    def delete(self, path, **kw):
        return self.session.delete(self.url + path, timeout=30, **kw)


def deploy_iris(server, example_models):
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v1", "torchscript")
    server.register("iris", models_dir / entry["path"], "torchscript", inputs=entry["inputs"],
                    outputs=entry["outputs"])
    server.deploy("iris", {"versions": [{"version": "1"}]})


def handshake(port, ctx):
    """Connects, completes the handshake and one request; returns (status, peer DER) or raises."""
    conn = http.client.HTTPSConnection("localhost", port, context=ctx, timeout=10)
    try:
        conn.request("GET", "/v2/health/live")
        response = conn.getresponse()
        response.read()
        return response.status, conn.sock.getpeercert(binary_form=True)
    finally:
        conn.close()


def refused(port, ctx):
    """True when the server refuses the client (at the handshake or, with TLS 1.3, on the
    first read after it)."""
    try:
        handshake(port, ctx)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return True
    return False


@pytest.fixture
def start_tls(tmp_path, pki):
    started = []

    def make(extra_args=()):
        s = TlsServer(tmp_path / f"data{len(started)}", pki, extra_args).start()
        started.append(s)
        return s

    yield make
    for s in started:
        if s.proc.poll() is None:
            assert s.stop() == 0


# ---- HTTPS ------------------------------------------------------------------------------

def test_https_inference_and_plain_http_refused_cleanly(start_tls, example_models):
    server = start_tls()
    deploy_iris(server, example_models)
    r = server.post("/v2/models/iris/infer", json={"inputs": GOOD_INPUTS})
    assert r.status_code == 200, r.text
    assert len(r.json()["outputs"][0]["data"]) == 3

    # Plain HTTP on the TLS port: a readable 400 that says why, then the connection closes.
    plain = requests.get(f"http://127.0.0.1:{server.port}/v2/health/live", timeout=5)
    assert plain.status_code == 400 and "HTTPS" in plain.json()["error"]
    # A client that does not trust the server's CA fails the handshake.
    assert refused(server.port, client_context(server.pki, ca="rogue"))
    # The server's TLS files for gRPC are private.
    tls_dir = server.data_dir / "tls"
    assert (tls_dir.stat().st_mode & 0o777) == 0o700
    assert ((tls_dir / "current" / "key.pem").stat().st_mode & 0o777) == 0o600
    assert server.post("/v2/models/iris/infer", json={"inputs": GOOD_INPUTS}).status_code == 200


def quiver_cli(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIVER_")}
    env.update(env_extra or {})
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=60, env=env)


def test_cli_speaks_https_verifies_the_server_and_presents_a_client_certificate(start_tls, pki):
    server = start_tls(["--tls-client-ca", pki.path("ca"), "--tls-client-auth", "require"])
    url = f"https://localhost:{server.port}"
    ok = quiver_cli("models", "--server", url, "--cacert", pki.path("ca"),
                    "--client-cert", pki.path("client"), "--client-key", pki.path("client", "key"))
    assert ok.returncode == 0, ok.stderr
    # The same through the environment.
    env_ok = quiver_cli("models", env_extra={"QUIVER_SERVER": url, "QUIVER_CACERT": pki.path("ca"),
                                             "QUIVER_CLIENT_CERT": pki.path("client"),
                                             "QUIVER_CLIENT_KEY": pki.path("client", "key")})
    assert env_ok.returncode == 0, env_ok.stderr
    # A server whose CA is not trusted: unreachable (exit 3), and the message says why.
    untrusted = quiver_cli("models", "--server", url, "--cacert", pki.path("rogue"),
                           "--client-cert", pki.path("client"), "--client-key", pki.path("client", "key"))
    assert untrusted.returncode == 3 and "not trusted" in untrusted.stderr, untrusted.stderr
    # The certificate names localhost and 127.0.0.1, not this name: refused.
    wrong_name = quiver_cli("models", "--server", f"https://127.0.0.2:{server.port}", "--cacert", pki.path("ca"),
                            "--client-cert", pki.path("client"), "--client-key", pki.path("client", "key"))
    assert wrong_name.returncode == 3, wrong_name.stderr
    # mutual TLS required and no client certificate: refused.
    anonymous = quiver_cli("models", "--server", url, "--cacert", pki.path("ca"))
    assert anonymous.returncode == 3, anonymous.stderr


def test_mutual_tls_require(start_tls, pki):
    server = start_tls(["--tls-client-ca", pki.path("ca"), "--tls-client-auth", "require"])
    assert refused(server.port, client_context(pki))  # no certificate
    assert refused(server.port, client_context(pki, cert="intruder"))  # a certificate from another CA
    status, _ = handshake(server.port, client_context(pki, cert="client"))
    assert status == 200
    assert server.get("/v1/models").status_code == 200


def test_mutual_tls_optional(start_tls, pki):
    server = start_tls(["--tls-client-ca", pki.path("ca"), "--tls-client-auth", "optional"])
    assert handshake(server.port, client_context(pki))[0] == 200  # no certificate: fine
    assert handshake(server.port, client_context(pki, cert="client"))[0] == 200
    assert refused(server.port, client_context(pki, cert="intruder"))  # one sent must verify


def test_client_ca_alone_means_require(start_tls, pki):
    server = start_tls(["--tls-client-ca", pki.path("ca")])
    assert refused(server.port, client_context(pki))
    assert handshake(server.port, client_context(pki, cert="client"))[0] == 200


def test_client_identity_reaches_the_audit_log(start_tls, pki):
    server = start_tls(["--tls-client-ca", pki.path("ca"), "--tls-client-auth", "require"])
    assert server.get("/v1/models", headers={"x-request-id": "tls-identity-check"}).status_code == 200
    deadline = time.time() + 10
    while time.time() < deadline:
        records = server.get("/v1/audit", params={"kind": "access", "limit": 50}).json()
        entries = records if isinstance(records, list) else records.get("records", records.get("entries", []))
        mine = [e for e in entries if e.get("request_id") == "tls-identity-check"]
        if mine:
            assert mine[0]["tls_identity"] == "client-a", mine[0]
            return
        time.sleep(0.1)
    pytest.fail("no access record for the request")


def test_min_version_1_3_refuses_a_1_2_client(start_tls, pki):
    server = start_tls(["--tls-min-version", "1.3"])
    assert refused(server.port, client_context(pki, max_version=ssl.TLSVersion.TLSv1_2))
    assert handshake(server.port, client_context(pki, min_version=ssl.TLSVersion.TLSv1_3))[0] == 200
    # The default minimum, 1.2, takes both.
    other = start_tls()
    assert handshake(other.port, client_context(pki, max_version=ssl.TLSVersion.TLSv1_2))[0] == 200


@pytest.mark.parametrize("args,words", [
    (["--tls-cert", "CERT"], "--tls-key"),
    (["--tls-cert", "CERT", "--tls-key", "OTHERKEY"], "does not match"),
    (["--tls-cert", "CERT", "--tls-key", "KEY", "--tls-client-auth", "require"], "--tls-client-ca"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "KEY"], "/nonexistent.pem"),
    (["--tls-cert", "KEY", "--tls-key", "KEY"], "certificate"),
])
def test_bad_tls_configuration_refuses_to_start(tmp_path, pki, args, words):
    names = {"CERT": pki.path("server"), "KEY": pki.path("server", "key"), "OTHERKEY": pki.path("client", "key")}
    args = [names.get(a, a) for a in args]
    proc = subprocess.run([str(BINARY), "serve", "--http-port", "0", "--grpc-port", "0", "--data-dir",
                           str(tmp_path / "data"), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr


# ---- reload on SIGHUP ------------------------------------------------------------------------

def live_copies(tmp_path, pki):
    """Copies of the server's certificate and key that a test may replace."""
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(pki.path("server"), live / "cert.pem")
    shutil.copy(pki.path("server", "key"), live / "key.pem")
    return live


def test_sighup_reloads_the_certificate_without_dropping_connections(tmp_path, pki):
    live = live_copies(tmp_path, pki)
    server = TlsServer(tmp_path / "data", pki, cert_files=(live / "cert.pem", live / "key.pem")).start()
    try:
        both_cas = ssl.create_default_context(cafile=pki.path("ca"))
        both_cas.load_verify_locations(pki.path("ca2"))
        kept = http.client.HTTPSConnection("localhost", server.port, context=both_cas, timeout=10)
        kept.request("GET", "/v2/health/live")
        assert kept.getresponse().read() == b'{"live":true}'
        assert kept.sock.getpeercert(binary_form=True) == pki.der("server")

        # Swap in a certificate from another CA, then SIGHUP.
        shutil.copy(pki.path("server2"), live / "cert.pem.new")
        shutil.copy(pki.path("server2", "key"), live / "key.pem")
        (live / "cert.pem.new").rename(live / "cert.pem")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while handshake(server.port, both_cas)[1] != pki.der("server2"):
            assert time.time() < deadline, "new connections still get the old certificate"
            time.sleep(0.05)
        assert refused(server.port, client_context(pki, ca="ca"))  # only the new CA's clients now

        # The connection opened before the reload still works, on its old certificate.
        kept.request("GET", "/v2/health/live")
        assert kept.getresponse().read() == b'{"live":true}'
        assert kept.sock.getpeercert(binary_form=True) == pki.der("server")
        kept.close()

        # A broken file on reload: the server says so and keeps the last good certificate.
        (live / "cert.pem").write_text("not a certificate\n")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        assert server.proc.poll() is None
        assert handshake(server.port, both_cas)[1] == pki.der("server2")
        assert "TLS reload failed" in server.log_path.read_text()
    finally:
        assert server.stop() == 0


# ---- gRPC over TLS ----------------------------------------------------------------------------



def grpc_live(server, pb, credentials):
    port = server.grpc_target.rsplit(":", 1)[1]
    channel = grpc.secure_channel(f"localhost:{port}", credentials) if credentials else \
        grpc.insecure_channel(f"localhost:{port}")
    try:
        call = channel.unary_unary("/inference.GRPCInferenceService/ServerLive",
                                   request_serializer=pb.ServerLiveRequest.SerializeToString,
                                   response_deserializer=pb.ServerLiveResponse.FromString)
        return call(pb.ServerLiveRequest(), timeout=5).live
    finally:
        channel.close()


def grpc_credentials(pki, ca="ca", cert=None):
    kw = {"root_certificates": pathlib.Path(pki.path(ca)).read_bytes()}
    if cert:
        kw["private_key"] = pathlib.Path(pki.path(cert, "key")).read_bytes()
        kw["certificate_chain"] = pathlib.Path(pki.path(cert)).read_bytes()
    return grpc.ssl_channel_credentials(**kw)


def grpc_fails(server, pb, credentials):
    with pytest.raises(grpc.RpcError) as info:
        grpc_live(server, pb, credentials)
    return info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_grpc_over_tls_with_mutual_tls_and_reload(tmp_path, pki, pb):
    live = live_copies(tmp_path, pki)
    server = TlsServer(tmp_path / "data", pki, ["--tls-client-ca", pki.path("ca"), "--tls-client-auth", "require"],
                       cert_files=(live / "cert.pem", live / "key.pem")).start()
    try:
        assert grpc_live(server, pb, grpc_credentials(pki, cert="client")) is True
        assert grpc_fails(server, pb, grpc_credentials(pki))  # no client certificate
        assert grpc_fails(server, pb, grpc_credentials(pki, cert="intruder"))
        assert grpc_fails(server, pb, None)  # plaintext
        # Reload: gRPC picks up the new certificate too.
        shutil.copy(pki.path("server2", "key"), live / "key.pem")
        shutil.copy(pki.path("server2"), live / "cert.pem")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 15
        while True:
            try:
                if grpc_live(server, pb, grpc_credentials(pki, ca="ca2", cert="client")):
                    break
            except grpc.RpcError:
                pass
            assert time.time() < deadline, "gRPC still serves the old certificate"
            time.sleep(0.2)
    finally:
        assert server.stop() == 0


# ---- the management listener --------------------------------------------------------------------

def test_management_listener_split(server_factory, example_models):
    server = server_factory(extra_args=["--management-port", "0"])
    main_url, mgmt = server.url, server.management_url
    assert mgmt and mgmt != main_url
    management = Server(server.data_dir)  # its helpers, pointed at the management port
    management.url = mgmt
    deploy_iris(management, example_models)

    # The main port serves inference, health, metadata and feedback; management is 404 there.
    r = requests.post(main_url + "/v2/models/iris/infer", json={"inputs": GOOD_INPUTS}, timeout=30)
    assert r.status_code == 200, r.text
    assert requests.get(main_url + "/v2/models/iris", timeout=5).status_code == 200
    assert requests.get(main_url + "/v2/health/ready", timeout=5).status_code == 200
    for path in ("/v1/models", "/v1/deployments/iris", "/metrics", "/v1/audit"):
        assert requests.get(main_url + path, timeout=5).status_code == 404, path
    assert requests.put(main_url + "/v1/deployments/iris", json={"versions": [{"version": "1"}]},
                        timeout=5).status_code == 404
    assert requests.post(main_url + "/v1/blobs", data=b"x", timeout=5).status_code == 404
    assert requests.post(main_url + "/v1/feedback", json={"items": []}, timeout=5).status_code != 404
    # The management port serves management and health, not inference.
    assert requests.get(mgmt + "/v1/models", timeout=5).status_code == 200
    assert requests.get(mgmt + "/metrics", timeout=5).status_code == 200
    assert requests.get(mgmt + "/v2/health/live", timeout=5).status_code == 200
    assert requests.post(mgmt + "/v2/models/iris/infer", json={"inputs": GOOD_INPUTS},
                         timeout=5).status_code == 404


def test_management_listener_speaks_tls_too(start_tls, pki):
    server = start_tls(["--management-port", "0"])
    mgmt_port = int(server.management_url.rsplit(":", 1)[1])
    # The TLS server's helpers speak to the main port.
    session = requests.Session()
    session.trust_env = False
    session.verify = pki.path("ca")
    session.cert = (pki.path("client"), pki.path("client", "key"))
    assert session.get(f"https://localhost:{mgmt_port}/v1/models", timeout=5).status_code == 200
    assert server.get("/v1/models").status_code == 404
    assert requests.get(f"http://127.0.0.1:{mgmt_port}/v1/models", timeout=5).status_code == 400
