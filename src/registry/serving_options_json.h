// The serving options of a deployment spec: per version (batching, queue bound,
// timeout, isolation, memory limit) and per deployment (health, cache). Kept apart
// from the routing sections so each file stays small. Used by deployment_spec_json.cc.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

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
void write_deployment_options(const DeploymentSpec& spec, nlohmann::ordered_json& out);

}  // namespace quiver::registry
