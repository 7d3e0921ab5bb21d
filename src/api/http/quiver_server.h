// QuiverServer: assembles one serving process from its modules (blob store,
// registry, lifecycle manager, route snapshot, HTTP and gRPC frontends) and owns them
// in the order they must stop: gRPC and HTTP first (no new requests; in-flight ones
// finish), then the lifecycle manager (drains and unloads servables), then the
// registry and store.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "core/status.h"

namespace quiver::http {

struct ServeOptions {
  std::string host = "0.0.0.0";
  int http_port = 8000;  // 0 picks a free port
  int grpc_port = 8001;  // 0 picks a free port
  std::filesystem::path data_dir = "./quiver-data";
  int http_threads = 0;  // 0: hardware concurrency
  uint64_t max_body_bytes = 64ull << 20;
  uint64_t max_upload_bytes = 8ull << 30;
  int intra_op_threads = 1;
  int warmup_runs = 3;  // TorchScript's profiling executor optimises after a few runs
  // Predictions kept for joining feedback by request id: at most this many, this old.
  uint64_t prediction_log_max_entries = 1'000'000;
  int64_t prediction_log_max_age_s = 3600;
  // How often an `objective: {auto: promote_best}` deployment is scored.
  int64_t objective_interval_ms = 10'000;
};

class QuiverServer {
 public:
  static Result<std::unique_ptr<QuiverServer>> start(const ServeOptions& options);
  ~QuiverServer();
  uint16_t http_port() const;
  uint16_t grpc_port() const;
  // Stops accepting, drains in-flight requests and unloads models. Idempotent.
  void stop();

 private:
  struct Parts;
  explicit QuiverServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace quiver::http
