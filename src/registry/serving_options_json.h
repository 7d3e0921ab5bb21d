// The serving options of a deployment spec: per version (batching, queue bound,
// timeout, isolation, memory limit) and per deployment (health, cache). Kept apart
// from the routing sections so each file stays small. Used by deployment_spec_json.cc.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/deployment_spec.h"
#include "core/status.h"

namespace quiver::registry {

// Reads the option keys present in `entry` into `dv`; `where` is e.g. "versions[1]".
Status parse_version_options(const nlohmann::json& entry, const std::string& where, DeployedVersion& dv);
// Writes the options that differ from the defaults.
void write_version_options(const DeployedVersion& dv, nlohmann::ordered_json& entry);

Status parse_health(const nlohmann::json& value, HealthConfig& health);
Status parse_cache(const nlohmann::json& value, CacheConfig& cache);
// `access: {inference: public | token}` (who may call inference when the server
// requires tokens; absent: the server's --public-inference default).
Status parse_access(const nlohmann::json& value, AccessConfig& access);
// A byte size: a non-negative integer (bytes) or a string with a binary or decimal
// suffix: "512Mi", "4Gi", "100M", "64Ki", "2048". Also used by `serve --memory-budget`.
Result<int64_t> parse_byte_size(std::string_view text);
// `memory_budget:` as either form above; `where` names the field in messages.
Result<int64_t> parse_memory_budget(const nlohmann::json& value, const std::string& where);
// The shortest exact form: "512Mi" for 536870912, "1000" when no suffix divides it.
std::string format_byte_size(int64_t bytes);

void write_deployment_options(const DeploymentSpec& spec, nlohmann::ordered_json& out);

}  // namespace quiver::registry
