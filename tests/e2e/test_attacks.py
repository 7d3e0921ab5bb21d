"""The attack suite: hostile requests against one running server, each with the status
it must get. After every case the server must still be live and answer a valid
inference, each within 1 s. Requests that an HTTP library would refuse to send or
would normalise (dot segments, lying framing, slow bytes) go over raw sockets.

The server runs with small limits so that the attacks are quick to send; every limit
is a `quiver serve` option (docs/security.md, "Limits")."""
import concurrent.futures
import gzip
import importlib
import json
import socket
import struct
import subprocess
import sys
import time
import zlib

import grpc
import pytest
import requests

from conftest import ROOT, Server, find_model

MAX_BODY = 4 << 20
HEADER_TIMEOUT_MS = 1000
BODY_TIMEOUT_MS = 1000
MAX_CONNECTIONS = 64
LIMIT_ARGS = [
    "--max-body-bytes", str(MAX_BODY),
    "--header-timeout-ms", str(HEADER_TIMEOUT_MS),
    "--body-timeout-ms", str(BODY_TIMEOUT_MS),
    "--max-connections", str(MAX_CONNECTIONS),
]
PINNED = "/v2/models/iris/versions/1/infer"
GOOD_INPUTS = [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]
GOOD_BODY = json.dumps({"inputs": GOOD_INPUTS}).encode()
SHA = "0" * 64


@pytest.fixture(scope="module")
def srv(tmp_path_factory, example_models):
    """One server with iris v1 deployed, shared by every attack."""
    server = Server(tmp_path_factory.mktemp("attacks") / "data", LIMIT_ARGS).start()
    models_dir, manifest = example_models
    entry = find_model(manifest, "iris", "v1", "torchscript")
    server.artifact = server.register("iris", models_dir / entry["path"], "torchscript",
                                      inputs=entry["inputs"], outputs=entry["outputs"])["artifact"]
    server.deploy("iris", {"versions": [{"version": "1"}]})
    host, port = server.url[len("http://"):].rsplit(":", 1)
    server.address = (host, int(port))
    yield server
    assert server.stop() == 0, "the server must shut down cleanly after the attacks"


@pytest.fixture(autouse=True)
def still_serving(srv):
    """After each attack: health and a valid inference, each within 1 s."""
    yield
    assert srv.proc.poll() is None, "the server died"
    live = requests.get(srv.url + "/v2/health/live", timeout=1)
    assert live.status_code == 200 and live.json() == {"live": True}
    answer = requests.post(srv.url + PINNED, data=GOOD_BODY, timeout=1)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["outputs"][0]["data"]) == 3


# ---- raw HTTP ---------------------------------------------------------------------

def connect(srv, timeout=10):
    sock = socket.create_connection(srv.address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock, head_request=False):
    """(status, body bytes) of one response; status 0 when the server closed without one."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            return 0, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length and not head_request:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body


def send_raw(srv, data, pieces=1, head_request=False):
    """Sends the bytes (tolerating a server that answers and closes before all of them
    arrived) and returns (status, body)."""
    sock = connect(srv)
    try:
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            try:
                sock.sendall(data[i:i + step])
            except (BrokenPipeError, ConnectionResetError):
                break
        return read_response(sock, head_request)
    finally:
        sock.close()


def request_bytes(method, path, body=b"", headers=None, content_length=True):
    lines = [f"{method} {path} HTTP/1.1", "Host: attack"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if content_length and body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def error_of(body):
    """The {"error": ...} message of an answer."""
    parsed = json.loads(body)
    assert isinstance(parsed.get("error"), str) and parsed["error"], parsed
    return parsed["error"]


# ---- 1. path traversal in every name -------------------------------------------------

def version_body(artifact):
    return json.dumps({"artifact": artifact, "framework": "torchscript"}).encode()


TRAVERSAL = [
    # (id, method, raw path, body or None, expected status)
    ("model-plain", "GET", "/v2/models/../../etc/passwd", None, 404),
    ("model-encoded", "GET", "/v2/models/..%2f..%2fetc%2fpasswd", None, 404),
    ("model-encoded-dots", "GET", "/v2/models/%2e%2e%2f%2e%2e%2fetc/ready", None, 404),
    ("model-double-encoded", "GET", "/v2/models/%252e%252e%252fetc%252fpasswd", None, 404),
    ("model-backslash", "GET", "/v2/models/..%5c..%5cwindows/ready", None, 404),
    ("model-nul", "GET", "/v2/models/iris%00.json/ready", None, 404),
    ("infer-model-encoded", "POST", "/v2/models/..%2f..%2firis/infer", GOOD_BODY, 404),
    ("infer-version-encoded", "POST", "/v2/models/iris/versions/..%2f1/infer", GOOD_BODY, 404),
    ("infer-version-double", "POST", "/v2/models/iris/versions/%252e%252e%252f1/infer", GOOD_BODY, 404),
    ("register-model-encoded", "POST", "/v1/models/..%2f..%2fevil/versions", "ARTIFACT", 400),
    ("register-model-dots", "POST", "/v1/models/%2e%2e/versions", "ARTIFACT", 400),
    ("register-model-double", "POST", "/v1/models/%252e%252e%252fevil/versions", "ARTIFACT", 400),
    ("register-artifact-path", "POST", "/v1/models/iris/versions", version_body("../../registry.db"), 400),
    ("register-artifact-abs", "POST", "/v1/models/iris/versions", version_body("/etc/passwd"), 400),
    ("alias-encoded", "PUT", "/v1/models/iris/aliases/..%2f..%2fx", b'{"version": 1}', 400),
    ("alias-dots", "PUT", "/v1/models/iris/aliases/%2e%2e", b'{"version": 1}', 400),
    ("alias-double", "PUT", "/v1/models/iris/aliases/%252e%252e%252fx", b'{"version": 1}', 400),
    ("version-encoded", "GET", "/v1/models/iris/versions/..%2f1", None, 404),
    ("blob-plain", "GET", "/v1/blobs/../registry.db", None, 404),
    ("blob-encoded", "GET", "/v1/blobs/..%2f..%2fregistry.db", None, 400),
    ("blob-encoded-dots", "GET", "/v1/blobs/%2e%2e%2f%2e%2e%2fregistry.db", None, 400),
    ("blob-double-encoded", "GET", "/v1/blobs/%252e%252e%252fregistry.db", None, 400),
    ("blob-head-encoded", "HEAD", "/v1/blobs/..%2fregistry.db", None, 400),
    # A deployment names a model that must exist; a name no model can have is unknown.
    ("deployment-encoded", "PUT", "/v1/deployments/..%2f..%2fevil", b'{"versions": [{"version": "1"}]}', 404),
    ("deployment-double", "PUT", "/v1/deployments/%252e%252e%252fevil", b'{"versions": [{"version": "1"}]}', 404),
    ("deployment-version-ref", "PUT", "/v1/deployments/iris", b'{"versions": [{"version": "../1"}]}', 400),
]


@pytest.mark.parametrize("method,path,body,expected", [c[1:] for c in TRAVERSAL], ids=[c[0] for c in TRAVERSAL])
def test_path_traversal(srv, method, path, body, expected):
    if body == "ARTIFACT":
        body = version_body(srv.artifact)
    status, answer = send_raw(srv, request_bytes(method, path, body or b""), head_request=method == "HEAD")
    assert status == expected, answer
    if method != "HEAD":
        message = error_of(answer)
        assert "root:" not in message and "SQLite" not in message
    # Nothing was created under a hostile name.
    names = [m["name"] for m in requests.get(srv.url + "/v1/models", timeout=5).json()]
    assert names == ["iris"]


# ---- 2. shapes, counts and binary sizes --------------------------------------------------

def infer_json(inputs, **extra):
    return json.dumps({"inputs": inputs, **extra}).encode()


def tensor(shape, datatype="FP32", data=None, **extra):
    t = {"name": "input", "shape": shape, "datatype": datatype, **extra}
    if data is not None:
        t["data"] = data
    return t


def binary_body(inputs, payload):
    header = json.dumps({"inputs": inputs}).encode()
    return header + payload, {"Inference-Header-Content-Length": str(len(header))}


BIG = 1 << 62
SHAPES = [
    # (id, body, extra headers, expected status, words the error contains)
    ("product-overflows-int64", infer_json([tensor([BIG, BIG], data=[])]), {}, 400, "shape"),
    ("bytes-overflow-uint64", infer_json([tensor([1 << 61], "FP64", data=[])]), {}, 400, "limit"),
    ("four-gib-of-int8", infer_json([tensor([1 << 32, 1 << 32], "INT8", data=[])]), {}, 400, "limit"),
    ("negative-dim", infer_json([tensor([-1, 4], data=[1, 2, 3, 4])]), {}, 400, "negative"),
    ("negative-inner-dim", infer_json([tensor([1, -4], data=[1, 2, 3, 4])]), {}, 400, "negative"),
    ("fractional-dim", infer_json([tensor([1.5, 4], data=[1, 2, 3, 4])]), {}, 400, "integer"),
    ("dim-2-pow-64", b'{"inputs":[{"name":"input","shape":[18446744073709551616],"datatype":"FP32","data":[]}]}',
     {}, 400, ""),
    ("string-dim", infer_json([tensor(["4"], data=[1, 2, 3, 4])]), {}, 400, "integer"),
    ("too-many-dims", infer_json([tensor([1] * 33, data=[1])]), {}, 400, "dimensions"),
    ("too-many-inputs", infer_json([dict(tensor([1], data=[1]), name=f"i{i}") for i in range(257)]), {}, 400,
     "tensors"),
    ("elements-vs-shape", infer_json([tensor([1, 4], data=[1, 2, 3])]), {}, 400, "elements"),
    ("bytes-dim-overflow", infer_json([tensor([BIG], "BYTES", data=[])]), {}, 400, "limit"),
]
BINARY = [
    ("size-says-more", [tensor([1, 4], parameters={"binary_data_size": 32})], b"\0" * 16, 400, "binary_data_size"),
    ("size-says-less", [tensor([1, 4], parameters={"binary_data_size": 8})], b"\0" * 16, 400, "binary_data_size"),
    ("size-2-pow-64-minus-1", [tensor([1, 4], parameters={"binary_data_size": (1 << 64) - 1})], b"\0" * 16, 400,
     "binary_data_size"),
    ("size-negative", [tensor([1, 4], parameters={"binary_data_size": -16})], b"\0" * 16, 400, "binary_data_size"),
    ("sizes-sum-overflows", [tensor([1, 4], parameters={"binary_data_size": 1 << 63}),
                             dict(tensor([1, 4], parameters={"binary_data_size": 1 << 63}), name="b")],
     b"\0" * 16, 400, "binary_data_size"),
    ("shape-bytes-disagree", [tensor([1, 4], parameters={"binary_data_size": 12})], b"\0" * 12, 400, "bytes"),
    ("bytes-element-overruns", [tensor([1], "BYTES", parameters={"binary_data_size": 8})],
     struct.pack("<I", 1000) + b"abcd", 400, "overruns"),
]


@pytest.mark.parametrize("body,headers,expected,words", [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_shapes_and_counts(srv, body, headers, expected, words):
    r = requests.post(srv.url + PINNED, data=body, headers=headers, timeout=10)
    assert r.status_code == expected, r.text
    assert words in error_of(r.content)


@pytest.mark.parametrize("inputs,payload,expected,words", [c[1:] for c in BINARY], ids=[c[0] for c in BINARY])
def test_binary_sizes_that_lie(srv, inputs, payload, expected, words):
    body, headers = binary_body(inputs, payload)
    r = requests.post(srv.url + PINNED, data=body, headers=headers, timeout=10)
    assert r.status_code == expected, r.text
    assert words in error_of(r.content)


@pytest.mark.parametrize("value", ["999999", "-5", "12abc", "99999999999999999999999999", "7"],
                         ids=["past-the-end", "negative", "not-a-number", "overflows", "inside-the-json"])
def test_header_length_that_lies(srv, value):
    r = requests.post(srv.url + PINNED, data=GOOD_BODY, headers={"Inference-Header-Content-Length": value},
                      timeout=10)
    assert r.status_code == 400, r.text


# ---- 3. framing: chunked floods, huge chunks, CL/TE conflicts ----------------------------

HEAD_CHUNKED = f"POST {PINNED} HTTP/1.1\r\nHost: attack\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
FRAMING = [
    ("chunk-flood-1-byte", HEAD_CHUNKED + b"1\r\n[\r\n" * 200_000 + b"0\r\n\r\n", 400),
    ("chunk-size-overflows", HEAD_CHUNKED + b"FFFFFFFFFFFFFFFFFFFFFFFF\r\n" + b"x" * 100, 400),
    ("chunk-size-2-gib", HEAD_CHUNKED + b"7FFFFFFF\r\n" + b"x" * 1000, 413),
    ("chunk-size-past-body-limit", HEAD_CHUNKED + b"%X\r\n" % (MAX_BODY + 1) + b"x" * 1000, 413),
    ("chunk-extension-endless", HEAD_CHUNKED + b"5;ext=" + b"e" * (2 << 20), 400),
    ("chunk-size-not-hex", HEAD_CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-data-longer-than-size", HEAD_CHUNKED + b"2\r\nhello\r\n0\r\n\r\n", 400),
    ("cl-and-te", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "0\r\n\r\n".encode(), 400),
    ("te-and-cl", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
                  "0\r\n\r\n".encode(), 400),
    ("two-content-lengths", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\n"
                            "abc".encode(), 400),
    ("te-gzip-smuggles", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"
                         "GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n".encode(), 400),
    ("te-chunked-not-last", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                            "0\r\n\r\n".encode(), 400),
    ("te-chunked-twice", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode(), 400),
    ("content-length-negative", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n".encode(), 400),
    ("content-length-huge", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n".encode(), 413),
    ("content-length-overflows", f"POST {PINNED} HTTP/1.1\r\nHost: a\r\n"
                                 "Content-Length: 99999999999999999999999\r\n\r\n".encode(), 400),
]


@pytest.mark.parametrize("data,expected", [c[1:] for c in FRAMING], ids=[c[0] for c in FRAMING])
def test_framing(srv, data, expected):
    status, answer = send_raw(srv, data, pieces=16)
    assert status == expected, answer


def test_smuggled_request_is_never_answered(srv):
    """With a framing the server refuses, nothing after it may be taken for a request."""
    sock = connect(srv)
    sock.sendall(f"POST {PINNED} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"
                 f"GET /v2/health/live HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    status, _ = read_response(sock)
    assert status == 400
    rest = b""
    try:
        while chunk := sock.recv(65536):
            rest += chunk
    except OSError:
        pass
    sock.close()
    assert b"HTTP/1.1" not in rest, rest


# ---- 4. header floods and long URLs ----------------------------------------------------------

def many_headers(n):
    return "".join(f"X-Flood-{i}: {i}\r\n" for i in range(n))


HEADERS = [
    ("200-fields", f"GET /v2/health/live HTTP/1.1\r\n{many_headers(200)}\r\n".encode(), 431),
    ("one-20-kib-field", f"GET /v2/health/live HTTP/1.1\r\nX-Big: {'b' * 20000}\r\n\r\n".encode(), 431),
    ("1-mib-of-fields", f"GET /v2/health/live HTTP/1.1\r\n{many_headers(40000)}\r\n".encode(), 431),
    ("url-10-kib", f"GET /v2/models/{'a' * 10000}/ready HTTP/1.1\r\nHost: a\r\n\r\n".encode(), 414),
    ("url-1-mib", f"GET /v2/models/{'a' * (1 << 20)}/ready HTTP/1.1\r\nHost: a\r\n\r\n".encode(), 414),
    ("query-10-kib", f"GET /v2/health/live?{'q=1&' * 2500} HTTP/1.1\r\nHost: a\r\n\r\n".encode(), 414),
    ("header-never-ends", b"GET /v2/health/live HTTP/1.1\r\nX-A: " + b"a" * (1 << 20), 431),
    ("not-http", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 100 + b"\r\n\r\n", 400),
]


@pytest.mark.parametrize("data,expected", [c[1:] for c in HEADERS], ids=[c[0] for c in HEADERS])
def test_header_floods_and_long_urls(srv, data, expected):
    status, answer = send_raw(srv, data, pieces=8)
    assert status == expected, answer


# ---- 5. slowloris ----------------------------------------------------------------------------

def test_slow_header_gets_408(srv):
    sock = connect(srv)
    started = time.monotonic()
    request = f"GET /v2/health/live HTTP/1.1\r\nHost: a\r\nX-Slow: {'s' * 50}\r\n\r\n".encode()
    status = 0
    for i in range(len(request)):  # one byte every 50 ms: 4 s for the whole header
        try:
            sock.sendall(request[i:i + 1])
        except OSError:
            break
        time.sleep(0.05)
        if time.monotonic() - started > HEADER_TIMEOUT_MS / 1000 + 0.5:
            break
    status, _ = read_response(sock)
    sock.close()
    assert status == 408
    assert time.monotonic() - started < HEADER_TIMEOUT_MS / 1000 + 2


def test_stalled_body_gets_408(srv):
    sock = connect(srv)
    sock.sendall(request_bytes("POST", PINNED, None, {"Content-Length": len(GOOD_BODY)}, content_length=False))
    sock.sendall(GOOD_BODY[:10])
    started = time.monotonic()
    status, body = read_response(sock)
    sock.close()
    assert status == 408, body
    assert time.monotonic() - started < BODY_TIMEOUT_MS / 1000 + 2


def test_trickled_chunked_body_gets_408(srv):
    sock = connect(srv)
    sock.sendall(HEAD_CHUNKED + b"1\r\n{\r\n")
    time.sleep(BODY_TIMEOUT_MS / 1000 + 0.5)
    status, _ = read_response(sock)
    sock.close()
    assert status == 408


def test_idle_connections_are_closed_silently(srv):
    socks = [connect(srv) for _ in range(20)]
    # They are held open while the server keeps answering others at once.
    assert requests.get(srv.url + "/v2/health/live", timeout=1).status_code == 200
    time.sleep(HEADER_TIMEOUT_MS / 1000 + 0.5)
    for sock in socks:
        assert read_response(sock) == (0, b"")  # closed, with nothing said
        sock.close()


def test_connections_over_the_limit_get_503(srv):
    socks = []
    try:
        # Keep-alive connections that each finished a request: they count, and idle.
        # Connections of earlier cases may still be closing, so count up to the refusal.
        for _ in range(MAX_CONNECTIONS + 1):
            sock = connect(srv)
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: a\r\n\r\n")
            status, body = read_response(sock)
            socks.append(sock)
            if status != 200:
                break
        assert status == 503 and "connections" in error_of(body)
        assert len(socks) > MAX_CONNECTIONS - 8, "refused long before the limit"
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.2)  # the server notices the closes


# ---- 6. JSON depth bombs ------------------------------------------------------------------------

def nested(depth):
    return "[" * depth + "]" * depth


JSON_BOMBS = [
    ("infer-data-100k", PINNED, "POST",
     f'{{"inputs":[{{"name":"input","shape":[1,4],"datatype":"FP32","data":{nested(100_000)}}}]}}', 400),
    ("infer-parameters", PINNED, "POST",
     f'{{"parameters":{{"x":{nested(1000)}}},"inputs":{json.dumps(GOOD_INPUTS)}}}', 400),
    ("infer-objects", PINNED, "POST", '{"a":' * 50_000 + "1" + "}" * 50_000, 400),
    ("deployment-spec", "/v1/deployments/iris", "PUT", '{"versions":' + nested(10_000) + "}", 400),
    ("version-metadata", "/v1/models/iris/versions", "POST",
     '{"artifact":"' + SHA + '","framework":"onnx","metadata":' + nested(5000) + "}", 400),
    ("feedback", "/v1/feedback", "POST", '{"items":' + nested(100_000) + "}", 400),
    ("rollout-action", "/v1/deployments/iris/rollout/pause", "POST", nested(100_000), 400),
    ("unclosed-100k", PINNED, "POST", "[" * 100_000, 400),
]


@pytest.mark.parametrize("path,method,body,expected", [c[1:] for c in JSON_BOMBS], ids=[c[0] for c in JSON_BOMBS])
def test_json_depth_bombs(srv, path, method, body, expected):
    r = requests.request(method, srv.url + path, data=body.encode(), timeout=10)
    assert r.status_code == expected, r.text
    assert "deeper" in error_of(r.content)


# ---- 7. decompression bombs ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def gzip_bomb():
    """1 GiB of zeros as gzip: 16 concatenated members of 64 MiB (RFC 1952 allows
    several members), about 1 MiB on the wire."""
    member = gzip.compress(bytes(64 << 20), compresslevel=9)
    return member * 16


def raw_deflate(data):
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


ENCODINGS = [
    ("deflate-bomb", lambda bomb: zlib.compress(bytes(64 << 20), 9), "deflate", 413, "inflates"),
    ("raw-deflate-bomb", lambda bomb: raw_deflate(bytes(64 << 20)), "deflate", 413, "inflates"),
    ("corrupt-gzip", lambda bomb: b"\x1f\x8b\x08\x00" + b"\xff" * 100, "gzip", 400, "corrupt"),
    ("truncated-gzip", lambda bomb: gzip.compress(GOOD_BODY)[:-12], "gzip", 400, "truncated"),
    ("gzip-of-gzip", lambda bomb: gzip.compress(gzip.compress(GOOD_BODY)), "gzip", 400, "JSON"),
    ("unknown-coding", lambda bomb: GOOD_BODY, "br", 415, "Content-Encoding"),
    ("stacked-codings", lambda bomb: gzip.compress(gzip.compress(GOOD_BODY)), "gzip, gzip", 415, "Content-Encoding"),
]


def test_gzip_bomb_of_1_gib(srv, gzip_bomb):
    assert len(gzip_bomb) < MAX_BODY
    started = time.monotonic()
    r = requests.post(srv.url + PINNED, data=gzip_bomb, headers={"Content-Encoding": "gzip"}, timeout=30)
    assert r.status_code == 413, r.text
    assert "inflates" in error_of(r.content)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("make,coding,expected,words", [c[1:] for c in ENCODINGS], ids=[c[0] for c in ENCODINGS])
def test_content_encodings(srv, make, coding, expected, words):
    r = requests.post(srv.url + PINNED, data=make(None), headers={"Content-Encoding": coding}, timeout=30)
    assert r.status_code == expected, r.text
    assert words in error_of(r.content)


def test_compressed_inference_still_works(srv):
    r = requests.post(srv.url + PINNED, data=gzip.compress(GOOD_BODY), headers={"Content-Encoding": "gzip"},
                      timeout=10)
    assert r.status_code == 200, r.text


def test_compressed_upload_is_refused(srv):
    r = requests.post(srv.url + "/v1/blobs", data=gzip.compress(b"model"), headers={"Content-Encoding": "gzip"},
                      timeout=10)
    assert r.status_code == 415, r.text


# ---- 8. gRPC ---------------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def infer_call(srv, pb):
    # The client may send anything: the server's limit is what is tested.
    channel = grpc.insecure_channel(srv.grpc_target, options=[("grpc.max_send_message_length", -1),
                                                              ("grpc.max_receive_message_length", -1)])
    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer",
                               request_serializer=pb.ModelInferRequest.SerializeToString,
                               response_deserializer=pb.ModelInferResponse.FromString)
    yield call
    channel.close()


def grpc_request(pb, shape, raw, datatype="FP32", inputs=1):
    tensors = [pb.ModelInferRequest.InferInputTensor(name="input" if i == 0 else f"in{i}", datatype=datatype,
                                                     shape=shape) for i in range(inputs)]
    return pb.ModelInferRequest(model_name="iris", model_version="1", inputs=tensors,
                                raw_input_contents=[raw] * inputs)


GRPC = [
    ("message-over-limit", lambda pb: grpc_request(pb, [1, (MAX_BODY // 4) + 1024], b"\0" * (MAX_BODY + 4096)),
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    ("message-64-mib", lambda pb: grpc_request(pb, [1, 16 << 20], b"\0" * (64 << 20)),
     grpc.StatusCode.RESOURCE_EXHAUSTED),
    ("shape-overflows", lambda pb: grpc_request(pb, [BIG, BIG], b""), grpc.StatusCode.INVALID_ARGUMENT),
    ("bytes-overflow", lambda pb: grpc_request(pb, [1 << 61], b"", "FP64"), grpc.StatusCode.INVALID_ARGUMENT),
    ("negative-dim", lambda pb: grpc_request(pb, [-1, 4], b"\0" * 16), grpc.StatusCode.INVALID_ARGUMENT),
    ("too-many-dims", lambda pb: grpc_request(pb, [1] * 33, b"\0" * 4), grpc.StatusCode.INVALID_ARGUMENT),
    ("too-many-inputs", lambda pb: grpc_request(pb, [1], b"\0" * 4, inputs=300), grpc.StatusCode.INVALID_ARGUMENT),
    ("raw-size-lies", lambda pb: grpc_request(pb, [1, 4], b"\0" * 12), grpc.StatusCode.INVALID_ARGUMENT),
    ("bytes-element-overruns", lambda pb: grpc_request(pb, [1], struct.pack("<I", 1 << 30) + b"x", "BYTES"),
     grpc.StatusCode.INVALID_ARGUMENT),
]


@pytest.mark.parametrize("make,expected", [c[1:] for c in GRPC], ids=[c[0] for c in GRPC])
def test_grpc_attacks(srv, pb, infer_call, make, expected):
    with pytest.raises(grpc.RpcError) as info:
        infer_call(make(pb), timeout=30)
    assert info.value.code() == expected, info.value.details()
    good = pb.ModelInferRequest(model_name="iris", model_version="1",
                                inputs=[pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32",
                                                                              shape=[1, 4])],
                                raw_input_contents=[struct.pack("<4f", 5.1, 3.5, 1.4, 0.2)])
    assert len(infer_call(good, timeout=5).raw_output_contents[0]) == 12


def test_grpc_stream_flood(srv, pb, infer_call):
    """Many concurrent calls on one connection: the server bounds concurrent streams
    and every call still completes."""
    good = pb.ModelInferRequest(model_name="iris", model_version="1",
                                inputs=[pb.ModelInferRequest.InferInputTensor(name="input", datatype="FP32",
                                                                              shape=[1, 4])],
                                raw_input_contents=[struct.pack("<4f", 5.1, 3.5, 1.4, 0.2)])
    futures = [infer_call.future(good, timeout=30) for _ in range(500)]
    assert all(len(f.result().raw_output_contents[0]) == 12 for f in futures)


# ---- 9. many at once ----------------------------------------------------------------------------------

def test_mixed_attacks_in_parallel(srv, gzip_bomb):
    """Attacks from many connections at the same time do not starve each other or
    valid traffic."""
    attacks = [c[1] for c in HEADERS[:3]] + [c[1] for c in FRAMING[:4]]

    def attack(i):
        return send_raw(srv, attacks[i % len(attacks)], pieces=4)[0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(attack, range(48)))
        for _ in range(10):
            assert requests.post(srv.url + PINNED, data=GOOD_BODY, timeout=1).status_code == 200
    assert all(s in (400, 413, 431) for s in statuses), statuses
