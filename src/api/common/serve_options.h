// ServeOptions: everything `quiver serve` is told, in one plain struct. Both
// frontends and the server assembly read it, so it lives below all three.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "api/common/tls_context.h"
#include "core/tensor.h"

namespace quiver::api {

struct ServeOptions {
  // Loopback unless told otherwise; any other address needs auth or insecure_no_auth.
  std::string host = "127.0.0.1";
  int http_port = 8000;  // 0 picks a free port
  int grpc_port = 8001;  // 0 picks a free port
  std::filesystem::path data_dir = "./quiver-data";
  int http_threads = 0;  // 0: half the cores, at least one
  int grpc_threads = 0;  // gRPC completion queues and their threads; 0: one per core
  // Limits on what clients send (docs/security.md, "Limits", explains each one).
  uint64_t max_body_bytes = 64ull << 20;    // a buffered body, compressed or inflated; a gRPC message
  uint64_t max_upload_bytes = 8ull << 30;   // a streamed upload (POST /v1/blobs)
  uint32_t max_header_bytes = 16 << 10;
  uint32_t max_header_fields = 100;
  uint32_t max_url_bytes = 8 << 10;
  uint32_t max_json_depth = 64;
  uint32_t max_small_chunks = 65536;
  uint32_t max_connections = 10000;         // per HTTP listener
  int64_t header_timeout_ms = 10'000;
  int64_t body_timeout_ms = 30'000;
  int64_t idle_timeout_s = 60;
  TensorLimits tensor_limits;               // inputs, dimensions and bytes a request may declare
  uint32_t grpc_max_concurrent_streams = 100;  // per gRPC connection
  // TLS on HTTP and gRPC alike (docs/security.md, "TLS"); off without a certificate.
  TlsOptions tls;
  // A second HTTP listener for the management API (every /v1 route but feedback,
  // /v2/repository, /metrics): -1 for none, 0 picks a free port. With it, the main port
  // serves only inference, health, metadata and feedback, and answers the rest 404.
  int management_port = -1;
  std::string management_host = "127.0.0.1";
  int intra_op_threads = 1;
  int warmup_runs = 3;  // TorchScript's profiling executor optimises after a few runs
  // --inline-below-us: a model whose forward is shorter runs on the I/O thread that
  // read its request (no batching, in process); 0 turns it off.
  int64_t inline_below_us = 200;
  // Bytes all `load: on_demand` versions may keep resident together; the least
  // recently used idle ones are evicted beyond it. 0: no limit (`--memory-budget 4Gi`).
  int64_t memory_budget_bytes = 0;
  // Predictions kept for joining feedback by request id: at most this many, this old.
  uint64_t prediction_log_max_entries = 1'000'000;
  int64_t prediction_log_max_age_s = 3600;
  // How often an `objective: {auto: promote_best}` deployment is scored.
  int64_t objective_interval_ms = 10'000;
  // Scale-out (docs/scale-out.md): replicas share a PostgreSQL registry.
  std::string registry_url;        // --registry postgresql://...; empty: SQLite in data_dir
  std::string replica_id;          // --replica-id; empty: <hostname>:<http port>
  std::string advertise_address;   // --advertise-address host:port; empty: <host>:<http port>
  std::string artifact_store;      // --artifact-store postgresql | s3://...; empty: postgresql with --registry
  int64_t leader_lease_ms = 2000;  // --leader-lease-ms
  int64_t heartbeat_ms = 500;      // --heartbeat-ms: heartbeats, lease renewals, counter exchange
  int64_t registry_poll_ms = 1000; // --registry-poll-ms: read the revision this often besides NOTIFY
  bool registry_notify = true;     // --no-registry-notify: polling alone
  // Tokens and roles (docs/security.md, "Tokens and roles").
  bool auth = false;              // --auth: every call but health needs a token
  bool insecure_no_auth = false;  // --insecure-no-auth: allow a non-loopback host without auth
  bool public_inference = false;  // --public-inference: with auth, inference needs no token by default
  double rate_limit = 0;          // --rate-limit: requests/s per token; 0: none
  double rate_burst = 0;          // --rate-burst: bucket size; 0: max(1, rate_limit)
  // Signed artifacts (docs/security.md, "Signed artifacts").
  std::filesystem::path trusted_keys_dir;  // --trusted-keys: *.pem public keys; empty: none
  bool require_signature = false;          // --require-signature: every new version must be signed
  // Observability (docs/observability.md).
  std::string access_log;          // --access-log: a file, or "-" for stdout; empty: none
  std::string log_level = "info";  // --log-level: trace, debug, info, warn, error
  std::string log_format = "text"; // --log-format: text or json
};

}  // namespace quiver::api
