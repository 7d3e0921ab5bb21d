#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Usage: /usr/bin/python3 tests/fuzz/make_corpus.py [MODELS_DIR]

MODELS_DIR is the output of scripts/make_example_models.py; its ONNX files under
64 KiB become seeds of onnx_signature. The seeds are committed; rerun this after a
format change and commit what changes. Every seed is a real, mostly valid input, so
the fuzzer starts from the shapes the server actually sees; a few are known attacks.
"""

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def dumps(doc):
    return json.dumps(doc, separators=(",", ":"))


# ---- Open Inference Protocol bodies ----

IRIS = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}
OIP_BODIES = {
    "iris": {"inputs": [IRIS]},
    "iris_nested": {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                                "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}]},
    "id_params_outputs": {"id": "req-42", "parameters": {"x-user": "u1", "score": 0.5, "n": 3, "flag": True,
                                                         "nested": {"a": [1, 2]}, "binary_data_output": False},
                          "inputs": [IRIS],
                          "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]},
    "all_types": {"inputs": [
        {"name": "b", "shape": [3], "datatype": "BOOL", "data": [True, False, 1]},
        {"name": "u8", "shape": [2], "datatype": "UINT8", "data": [0, 255]},
        {"name": "u16", "shape": [1], "datatype": "UINT16", "data": [65535]},
        {"name": "u32", "shape": [1], "datatype": "UINT32", "data": [4294967295]},
        {"name": "u64", "shape": [1], "datatype": "UINT64", "data": [18446744073709551615]},
        {"name": "i8", "shape": [2], "datatype": "INT8", "data": [-128, 127]},
        {"name": "i16", "shape": [1], "datatype": "INT16", "data": [-32768]},
        {"name": "i32", "shape": [1], "datatype": "INT32", "data": [2.0]},
        {"name": "i64", "shape": [2], "datatype": "INT64", "data": [-9223372036854775808, 9223372036854775807]},
        {"name": "f16", "shape": [3], "datatype": "FP16", "data": [1.5, 65504, None]},
        {"name": "f64", "shape": [2], "datatype": "FP64", "data": [1e308, -0.0]},
        {"name": "s", "shape": [2], "datatype": "BYTES", "data": ["hello", ""]}]},
    "empty_shape": {"inputs": [{"name": "x", "shape": [0, 4], "datatype": "FP32", "data": []}]},
    "scalar": {"inputs": [{"name": "x", "shape": [], "datatype": "INT64", "data": [7]}]},
    "dynamic_binary_output": {"parameters": {"binary_data_output": True}, "inputs": [IRIS]},
    "response": {"model_name": "iris", "model_version": "1", "id": "r1",
                 "outputs": [{"name": "probabilities", "shape": [1, 3], "datatype": "FP32",
                              "data": [0.9, 0.05, 0.05]}]},
    # Refused, but worth starting from:
    "wrong_count": {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3]}]},
    "overflow_shape": {"inputs": [{"name": "x", "shape": [4294967296, 4294967296, 16], "datatype": "FP64",
                                   "data": [1]}]},
    "negative_dim": {"inputs": [{"name": "x", "shape": [-1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
    "duplicate_input": {"inputs": [IRIS, IRIS]},
    "int_out_of_range": {"inputs": [{"name": "x", "shape": [1], "datatype": "INT8", "data": [128]}]},
}


def oip_seeds():
    for name, doc in OIP_BODIES.items():
        write("oip_json", name + ".json", dumps(doc))
    write("oip_json", "depth_bomb.json", '{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":' +
          "[" * 2000 + "1" + "]" * 2000 + "}]}")
    write("oip_json", "not_json", "inputs=1")


def binary_body(tensors, extra=None, outputs=None):
    """tensors: [(name, datatype, shape, raw bytes)]; returns (header, body)."""
    inputs, blob = [], b""
    for name, dtype, shape, raw in tensors:
        inputs.append({"name": name, "datatype": dtype, "shape": shape,
                       "parameters": {"binary_data_size": len(raw)}})
        blob += raw
    doc = {"inputs": inputs}
    if extra:
        doc["inputs"] += extra
    if outputs:
        doc["outputs"] = outputs
    header = dumps(doc).encode()
    return header, header + blob


def bytes_elements(items):
    return b"".join(struct.pack("<I", len(s)) + s for s in items)


def binary_seeds():
    fp32 = struct.pack("<4f", 5.1, 3.5, 1.4, 0.2)
    cases = {
        "iris": [("input", "FP32", [1, 4], fp32)],
        "two_tensors": [("a", "INT64", [2], struct.pack("<2q", -1, 1)), ("b", "UINT8", [3], b"\x01\x02\x03")],
        "bytes": [("s", "BYTES", [2], bytes_elements([b"hello", b"\xff\x00"]))],
        "fp16_bool": [("h", "FP16", [2], struct.pack("<2e", 1.0, -2.5)), ("b", "BOOL", [2], b"\x01\x00")],
        "empty": [("e", "FP32", [0], b"")],
    }
    for name, tensors in cases.items():
        header, body = binary_body(tensors)
        write("oip_binary", name, struct.pack("<H", len(header)) + body)
    header, body = binary_body([("input", "FP32", [1, 4], fp32)],
                               extra=[{"name": "j", "datatype": "INT32", "shape": [1], "data": [3]}],
                               outputs=[{"name": "probabilities", "parameters": {"binary_data": True}}])
    write("oip_binary", "mixed", struct.pack("<H", len(header)) + body)
    # Sizes that lie: the parameters add up to more, or less, than what follows.
    header, body = binary_body([("input", "FP32", [1, 4], fp32)])
    write("oip_binary", "lying_size", struct.pack("<H", len(header)) + body[:-3])
    write("oip_binary", "long_header_length", struct.pack("<H", len(body) + 10) + body)
    write("oip_binary", "no_header", b"\xff\xff" + dumps({"inputs": [IRIS]}).encode())


# ---- gRPC ModelInferRequest (protobuf) ----

def grpc_seeds():
    tmp = tempfile.mkdtemp()
    try:
        subprocess.run(["protoc", f"--proto_path={ROOT}", f"--python_out={tmp}",
                        os.path.join(ROOT, "proto", "grpc_predict_v2.proto")], check=True)
        sys.path.insert(0, tmp)
        from proto import grpc_predict_v2_pb2 as pb  # noqa: E402
    except Exception as e:  # protoc or python3-protobuf missing: keep the committed seeds
        print(f"make_corpus: skipping grpc seeds ({e})")
        return

    def request(**kw):
        r = pb.ModelInferRequest(model_name="iris", model_version=kw.pop("version", ""), id=kw.pop("id", ""))
        for name, dtype, shape, contents in kw.pop("typed", []):
            t = r.inputs.add(name=name, datatype=dtype, shape=shape)
            for field, values in contents.items():
                getattr(t.contents, field).extend(values)
        for name, dtype, shape, raw in kw.pop("raw", []):
            r.inputs.add(name=name, datatype=dtype, shape=shape)
            r.raw_input_contents.append(raw)
        for k, v in kw.pop("params", {}).items():
            p = r.parameters[k]
            if isinstance(v, bool):
                p.bool_param = v
            elif isinstance(v, int):
                if v > 2**63 - 1:
                    p.uint64_param = v
                else:
                    p.int64_param = v
            elif isinstance(v, float):
                p.double_param = v
            else:
                p.string_param = v
        for name in kw.pop("outputs", []):
            r.outputs.add(name=name)
        assert not kw, kw
        return r.SerializeToString()

    fp32 = struct.pack("<4f", 5.1, 3.5, 1.4, 0.2)
    write("grpc_tensors", "typed_fp32", request(typed=[("input", "FP32", [1, 4], {"fp32_contents": [5.1, 3.5, 1.4, 0.2]})],
                                                outputs=["probabilities"]))
    write("grpc_tensors", "raw_fp32", request(raw=[("input", "FP32", [1, 4], fp32)], version="2", id="g1"))
    write("grpc_tensors", "typed_all", request(typed=[
        ("b", "BOOL", [2], {"bool_contents": [True, False]}),
        ("i8", "INT8", [2], {"int_contents": [-128, 127]}),
        ("i32", "INT32", [1], {"int_contents": [7]}),
        ("i64", "INT64", [1], {"int64_contents": [-5]}),
        ("u16", "UINT16", [1], {"uint_contents": [65535]}),
        ("u64", "UINT64", [1], {"uint64_contents": [2**64 - 1]}),
        ("f64", "FP64", [2], {"fp64_contents": [1e300, -0.0]}),
        ("s", "BYTES", [2], {"bytes_contents": [b"hello", b"\xff"]})]))
    write("grpc_tensors", "raw_mixed", request(raw=[
        ("h", "FP16", [2], struct.pack("<2e", 1.0, 2.0)),
        ("s", "BYTES", [1], bytes_elements([b"abc"])),
        ("u8", "UINT8", [0, 3], b"")]))
    write("grpc_tensors", "params", request(typed=[("x", "INT64", [1], {"int64_contents": [1]})],
                                            params={"sticky": "u1", "big": 2**64 - 1, "f": 0.5, "b": True, "n": -3}))
    write("grpc_tensors", "raw_count_mismatch", request(raw=[("a", "FP32", [1], b"\0\0\0\0")]) +
          request(typed=[("b", "FP32", [1], {"fp32_contents": [1.0]})]))
    write("grpc_tensors", "overflow_shape", request(typed=[("x", "FP64", [2**40, 2**40], {"fp64_contents": [1.0]})]))


# ---- Deployment specs ----

SPECS = {
    "minimal": {"versions": [{"version": "1"}]},
    "canary": {"versions": [{"version": 1, "instances": 2}, {"version": "canary"}],
               "traffic": [{"version": 1, "weight": 90}, {"version": "canary", "weight": 10}]},
    "sticky_rules_shadow": {
        "versions": [{"version": "3"}, {"version": "4"}, {"version": "beta"}],
        "traffic": [{"version": "3", "weight": 100}, {"version": "beta", "weight": 0}],
        "sticky": {"header": "X-User-Id"},
        "rules": [{"match": {"header": "x-beta", "equals": "1"}, "version": "beta"},
                  {"match": {"parameter": "country", "in": ["de", "fr", 3, True]}, "version": "4"},
                  {"match": {"parameter": "score", "gte": 0.75}, "version": "4"},
                  {"match": {"header": "x-tier", "not_equals": 2.5}, "version": "3"}],
        "shadow": [{"version": "4", "percent": 12.5}]},
    "serving_options": {
        "versions": [{"version": "1", "instances": 3, "max_queue": 64, "timeout_ms": 250,
                      "batching": {"max_batch_size": 16, "max_queue_delay_us": 2000, "preferred_batch_sizes": [4, 8]},
                      "isolation": "process", "memory_limit_mb": 512}],
        "health": {"probe_interval_ms": 500, "failure_threshold": 2, "max_error_rate": 0.25, "min_requests": 10,
                   "window_ms": 5000},
        "cache": {"max_entries": 1000}},
    "resolved": {"versions": [{"version": "canary", "resolved_version": 7, "instances": 1},
                              {"version": "2", "resolved_version": 2}],
                 "traffic": [{"version": "canary", "resolved_version": 7, "weight": 1},
                             {"version": "2", "resolved_version": 2, "weight": 3}]},
    "rollout": {
        "versions": [{"version": 1}, {"version": 3}],
        "rollout": {"baseline": 1, "candidate": 3,
                    "steps": [{"shadow": 100, "pause": "15s"}, {"weight": 20, "pause": "20s"},
                              {"weight": 50, "pause": "manual"}],
                    "analysis": {"tick": "1s", "window": "30s", "min_samples": 50, "alpha": 0.01, "failure_limit": 2,
                                 "on_inconclusive": "continue", "on_no_data": "rollback",
                                 "metrics": [{"name": "error_rate", "max_increase": 0.01},
                                             {"name": "latency_p99", "max_ratio": 1.5, "critical": True},
                                             {"name": "shadow_top1_agreement", "min": 0.95},
                                             {"name": "accuracy", "max_decrease": 0.05}]},
                    "on_failure": "rollback", "max_candidate_errors": 20, "retry_on_baseline": True,
                    "progress_deadline": "10m"}},
    "bandit": {"versions": [{"version": 1}, {"version": 2}],
               "bandit": {"arms": [1, 2], "policy": "thompson", "warmup_per_arm": 20, "min_share": 0.05,
                          "discount": 0.99, "epsilon": 0.1, "tick": "100ms"}},
    "bandit_ucb": {"versions": [{"version": "a1"}, {"version": "a2"}, {"version": "3"}],
                   "bandit": {"arms": ["a1", "a2", 3], "policy": "ucb1"}},
    "quality_objective": {"versions": [{"version": 1}, {"version": 2}],
                          "quality": {"task": "classification", "output": "probabilities",
                                      "labels": ["setosa", "versicolor", "virginica"]},
                          "objective": {"weights": {"accuracy": 1, "latency": 0.2},
                                        "budget": {"max_instances": 1}, "auto": "promote_best"}},
    # Refused, but worth starting from:
    "unknown_field": {"versions": [{"version": "1"}], "traffic": [{"version": "1", "wieght": 1}]},
    "zero_weights": {"versions": [{"version": "1"}], "traffic": [{"version": "1", "weight": 0}]},
    "traversal_alias": {"versions": [{"version": "../../etc/passwd"}]},
}


def spec_seeds():
    for name, doc in SPECS.items():
        write("spec_json", name + ".json", json.dumps(doc, indent=1))
    write("spec_json", "duplicate_key.json", '{"versions":[{"version":"1"}],"versions":[]}')
    write("spec_json", "deep_objective.json", '{"versions":[{"version":"1"}],"objective":{"a":' +
          "[" * 3000 + "]" * 3000 + "}}")

    for f in sorted(os.listdir(os.path.join(ROOT, "examples"))):
        if f.endswith(".yaml"):
            shutil.copy(os.path.join(ROOT, "examples", f), os.path.join(CORPUS, "spec_yaml", f))
    for name in ("canary", "rollout", "bandit", "quality_objective", "sticky_rules_shadow"):
        write("spec_yaml", name + ".json", json.dumps(dict(model="iris", **SPECS[name])))
    write("spec_yaml", "flow.yaml", "model: iris\nversions: [{version: 1}, {version: '2'}]\n"
          "traffic: [{version: 1, weight: 0x5A}, {version: '2', weight: 1e1}]\n")
    write("spec_yaml", "scalars.yaml", "model: iris\nversions:\n  - version: 007\n    instances: +2\n"
          "    timeout_ms: 0o17\n    max_queue: ~\nrules:\n  - match: {header: X-A, equals: .inf}\n    version: 7\n"
          "  - match: {parameter: p, in: [null, true, -1.5e3, !!str 12]}\n    version: \"7\"\n")
    write("spec_yaml", "anchors.yaml", "model: iris\nbase: &b {version: 1, instances: 2}\nversions:\n  - *b\n"
          "  - <<: *b\n    version: 2\n")
    write("spec_yaml", "two_documents.yaml", "model: a\nversions: [{version: 1}]\n---\nmodel: b\n")
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))
    write("spec_yaml", "alias_bomb.yaml", "model: iris\n" + bomb)
    write("spec_yaml", "block_scalars.yaml", "model: iris\nversions:\n  - version: |\n      3\n"
          "sticky:\n  header: >-\n    x-user\n")


# ---- ONNX models ----

def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def value_info(name, elem_type, dims):
    shape = b"".join(field(1, (varint(1 << 3) + varint(d)) if isinstance(d, int) else field(2, d.encode()))
                     for d in (dims or []))
    tensor_type = varint(1 << 3) + varint(elem_type) + (field(2, shape) if dims is not None else b"")
    return field(1, name.encode()) + field(2, field(1, tensor_type))


def onnx_seeds(models_dir):
    if models_dir and os.path.isdir(models_dir):
        for f in sorted(os.listdir(models_dir)):
            p = os.path.join(models_dir, f)
            if f.endswith(".onnx") and os.path.getsize(p) < 64 * 1024:
                shutil.copy(p, os.path.join(CORPUS, "onnx_signature", f))
    graph = (field(11, value_info("input", 1, ["batch", 4])) + field(11, value_info("w", 1, [4, 3])) +
             field(5, field(8, b"w")) + field(12, value_info("probabilities", 1, ["batch", 3])))
    write("onnx_signature", "handmade_initializer_input", varint(1 << 3) + varint(8) + field(7, graph))
    graph = field(11, value_info("x", 7, None)) + field(12, value_info("y", 11, [])) + field(12, value_info("z", 8, [2]))
    write("onnx_signature", "handmade_no_shape_string_out", field(7, graph))
    write("onnx_signature", "truncated", field(7, graph)[:-5])


# ---- names and path segments ----

NAMES = ["iris", "my-model_v1.2", "canary", "1", "123", "a" * 128, "a" * 129, ".hidden", "-dash", "..", ".",
         "%2e%2e", "%2E%2e%2f", "..%2f..%2fetc%2fpasswd", "%252e%252e%252f", "a%2Fb", "a%00b", "%zz", "%4", "100%",
         "caf%C3%A9", "name with space", "a+b", "%2B", "\\..\\windows", "CON", "x" * 40 + "%", "model?x=1",
         "%ef%bc%8f", "..%c0%af"]


def name_seeds():
    for i, n in enumerate(NAMES):
        write("names", f"{i:02d}", n)


# ---- raw HTTP requests ----

def http(method, target, headers=(), body=b"", version="1.1"):
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {target} HTTP/{version}", "Host: localhost"] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(body, sizes):
    out, pos = b"", 0
    for s in sizes:
        out += f"{s:x}\r\n".encode() + body[pos:pos + s] + b"\r\n"
        pos += s
    return out + b"0\r\n\r\n"


def http_seeds():
    iris = dumps({"inputs": [IRIS]}).encode()
    header, binary = binary_body([("input", "FP32", [1, 4], struct.pack("<4f", 5.1, 3.5, 1.4, 0.2))])
    spec = json.dumps(SPECS["canary"]).encode()
    reqs = {
        "health": http("GET", "/v2/health/live"),
        "infer": http("POST", "/v2/models/iris/infer", ["Content-Type: application/json",
                                                        f"Content-Length: {len(iris)}"], iris),
        "infer_pinned_binary": http("POST", "/v2/models/iris/versions/1/infer",
                                    ["Content-Type: application/octet-stream",
                                     f"Inference-Header-Content-Length: {len(header)}",
                                     f"Content-Length: {len(binary)}"], binary),
        "infer_chunked": http("POST", "/v2/models/iris/infer", ["Transfer-Encoding: chunked"],
                              chunked(iris, [1, 10, len(iris) - 11])),
        "chunk_extensions_trailer": http("POST", "/v2/models/iris/infer", ["Transfer-Encoding: chunked"],
                                         b"5;ext=1\r\n" + iris[:5] + b"\r\n" + f"{len(iris) - 5:X}\r\n".encode() +
                                         iris[5:] + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"),
        "deploy": http("PUT", "/v1/deployments/iris", [f"Content-Length: {len(spec)}"], spec),
        "upload_chunked": http("POST", "/v1/blobs", ["Transfer-Encoding: chunked"], chunked(b"\x00" * 40, [16, 24])),
        "upload_expect": http("POST", "/v1/blobs", ["Content-Length: 4", "Expect: 100-continue"], b"abcd"),
        "pipelined": http("GET", "/v2/models/iris/ready") + http("GET", "/v1/models?limit=10&name=ir%20is") +
        http("DELETE", "/v1/models/iris/aliases/canary", ["Connection: close"]),
        "query_and_encoding": http("GET", "/v1/models/ir%69s/versions/1/quality?window=5m&x=%2B+y"),
        "wrong_method": http("DELETE", "/v2/health/live"),
        "traversal": http("GET", "/v1/models/..%2F..%2Fetc%2Fpasswd/versions/%252e%252e"),
        "bad_escape": http("GET", "/v1/models/%zz"),
        "absolute_form": http("GET", "http://evil/v2"),
        "http10": http("GET", "/v2", version="1.0"),
        "cl_and_te": http("POST", "/v2/models/iris/infer", ["Content-Length: 5", "Transfer-Encoding: chunked"],
                          chunked(iris, [len(iris)])),
        "two_content_lengths": http("POST", "/v1/feedback", ["Content-Length: 2", "Content-Length: 3"], b"{}"),
        "huge_chunk": http("POST", "/v2/models/iris/infer", ["Transfer-Encoding: chunked"],
                           b"ffffffffffffffff\r\n{}"),
        "many_chunks": http("POST", "/v1/feedback", ["Transfer-Encoding: chunked"], b"1\r\n \r\n" * 500 + b"0\r\n\r\n"),
        "repeated_headers": http("GET", "/metrics", ["X-A: 1", "x-a: 2", "Accept: */*", "Accept: text/plain"]),
        "obs_fold": b"GET /v2 HTTP/1.1\r\nHost: a\r\nX-Long: a\r\n b\r\n\r\n",
        "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    }
    for i, (name, raw) in enumerate(reqs.items()):
        # First byte: how many bytes each read returns, minus one. Mix of whole and cut.
        read_size = [255, 0, 6, 63][i % 4]
        write("http_request", name, bytes([read_size]) + raw)


def main():
    models = sys.argv[1] if len(sys.argv) > 1 else None
    oip_seeds()
    binary_seeds()
    grpc_seeds()
    spec_seeds()
    onnx_seeds(models)
    name_seeds()
    http_seeds()
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print(f"{t}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
