// The deciding-by-evidence sections of a deployment spec (API.md §4): `rollout`,
// `bandit`, `quality` and `objective`. Kept apart from the routing sections so each
// file stays small; used by deployment_spec_json.cc.
//
// Durations are written "500ms", "30s", "15m", "1h" (or a number of seconds); a
// step's pause may be "manual". Serialization writes durations back as text, so a
// stored revision reads as the user wrote it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/deployment_spec.h"
#include "core/status.h"

namespace quiver::registry {

Status parse_rollout(const nlohmann::json& value, RolloutSpec& rollout);
Status parse_bandit(const nlohmann::json& value, BanditSpec& bandit);
Status parse_quality(const nlohmann::json& value, PredictionTask& task);
Status parse_objective(const nlohmann::json& value, std::string& objective_json);

// Semantic checks once refs are resolved; `listed` says whether a version is in
// spec.versions.
Status validate_evidence_sections(const DeploymentSpec& spec);

void write_evidence_sections(const DeploymentSpec& spec, nlohmann::ordered_json& out);

// "30s" -> 30000; InvalidArgument naming `where` otherwise.
Result<int64_t> parse_duration_ms(const nlohmann::json& value, const std::string& where);
std::string format_duration_ms(int64_t ms);

}  // namespace quiver::registry
