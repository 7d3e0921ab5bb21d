// Text renderings of the server's answers for `quiver models`, `quiver status` and
// `quiver history`.
//
// The server may leave fields out (older servers, counters not filled in yet); every
// missing value prints "-" and nothing here fails on an unexpected shape.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace quiver::cli {

// GET /v1/models -> a MODEL VERSIONS ALIASES table.
std::string render_models(const nlohmann::json& models);

// GET /v1/deployments -> one line per deployment (MODEL REVISION STATE MESSAGE).
std::string render_deployment_list(const nlohmann::json& deployments);

// GET /v1/deployments/{m} -> a heading with the overall state, a per-version table
// (VERSION STATE INSTANCES TRAFFIC OBSERVED RPS P50 P99 ERRORS), a line per failed
// version with its error, and a shadow-comparison table when there is one. TRAFFIC
// is the configured share: the server's traffic_share, else worked out from the
// spec's weights.
std::string render_deployment_status(const nlohmann::json& deployment);

// GET /v1/cluster: each replica, whether it is live and has converged on the registry
// revision, and the leader. "" for a single server.
std::string render_cluster(const nlohmann::json& cluster);

// GET /v1/deployments/{m}/history -> REVISION CREATED CLIENT REASON CHANGE.
std::string render_history(const nlohmann::json& history);

// One line summing up a spec: "3:90 canary:10, sticky header x-user-id, 1 rule, shadow 4 at 100%".
std::string summarize_spec(const nlohmann::json& spec);

// A created_at value: text as given; a number as UTC time (seconds or milliseconds
// since the epoch, told apart by size).
std::string format_timestamp(const nlohmann::json* value);

}  // namespace quiver::cli
