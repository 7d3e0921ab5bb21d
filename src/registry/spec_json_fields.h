// Small helpers every section parser of a deployment spec shares, so that all of them
// reject unknown fields and write numbers the same way. Internal to the registry.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>
#include <string>

#include "core/status.h"

namespace quiver::registry {

// InvalidArgument unless `obj` is an object whose keys are all in `allowed`;
// `where` names the section in the message ("unknown field 'wieght' in rollout").
inline Status only_fields(const nlohmann::json& obj, const std::set<std::string>& allowed, const std::string& where) {
  if (!obj.is_object()) return invalid_argument("'" + where + "' must be an object");
  for (const auto& [k, v] : obj.items())
    if (!allowed.count(k)) return invalid_argument("unknown field '" + k + "' in " + where);
  return Status::ok();
}

// Writes a double as a JSON integer when it is one, so 100 is not rendered "100.0".
inline nlohmann::ordered_json number_json(double d) {
  if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
  return d;
}

}  // namespace quiver::registry
