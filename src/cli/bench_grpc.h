// The gRPC side of `quiver bench`: ModelInfer calls on the server's
// inference.GRPCInferenceService, driven by the shared load generator (bench_load.h).
//
// Each worker has its own channel with a local subchannel pool, so it gets its own
// HTTP/2 connection, the way each HTTP worker has its own keep-alive connection:
// `--concurrency N` means N connections with one request in flight on each, whatever
// the protocol. The request message is built once from the same random tensors the
// HTTP path encodes, with the values in raw_input_contents (the form stock clients
// use and the only one FP16 has), and sent unchanged on every call.
//
// Failed calls are counted by status code name ("gRPC UNAVAILABLE",
// "gRPC DEADLINE_EXCEEDED", ...).
//
// Thread-safety: free functions; run_grpc_load() is blocking and owns its threads,
// call it from one thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "cli/bench_load.h"
#include "cli/bench_stats.h"
#include "core/params.h"
#include "core/status.h"
#include "core/tensor.h"
#include "proto/grpc_predict_v2.pb.h"

namespace quiver::cli {

// The gRPC port a server listens on when --grpc-port is not given.
inline constexpr std::string_view kDefaultGrpcPort = "8001";

struct GrpcLoadTarget {
  std::string address;  // "host:port", "[::1]:port" for IPv6 literals
  std::string model;
  std::string version;  // "" lets the deployment route
  Headers metadata;     // sent with every call; names are lowercased (gRPC requires it)
  std::vector<Tensor> inputs;
};

// The ModelInferRequest of `target`: one InferInputTensor per input (name,
// datatype, shape) and its bytes, in input order, in raw_input_contents.
inference::ModelInferRequest build_grpc_infer_request(const GrpcLoadTarget& target);

// "OK", "CANCELLED", ..., "UNAUTHENTICATED" for a gRPC status code number; "CODE n"
// for a number outside the table.
std::string grpc_code_name(int code);

// Connects to target.address and makes one ModelInfer call, so that a server without
// a gRPC port, a model that is not ready or inputs that do not fit fail before the
// load starts, with the server's message. Waits at most `timeout` for each step.
Status check_grpc_request(const GrpcLoadTarget& target, std::chrono::milliseconds timeout);

// Runs one load level of ModelInfer calls (see run_load_with in bench_load.h).
// A Status only when the options are unusable; calls that fail are counted as errors.
Result<LevelResult> run_grpc_load(const GrpcLoadTarget& target, const LoadOptions& options);

}  // namespace quiver::cli
