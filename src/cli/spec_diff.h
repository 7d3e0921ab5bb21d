// The readable difference between two deployment specs, as `quiver apply --dry-run`
// prints it: which versions a change adds or removes, how traffic weights move, and
// what happens to routing rules, shadow traffic and stickiness.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace quiver::cli {

// One line per change, without trailing newlines, e.g.
//   "versions: + 4 (instances 1)"
//   "traffic: 3 weight 100 -> 90"
//   "sticky: none -> {\"header\":\"x-user-id\"}"
// `current` null means the deployment does not exist yet. Versions are compared by
// their text, so 3 and "3" are the same version. Empty when nothing changes.
// Top-level "model", "revision" and "status" are not spec and are ignored.
std::vector<std::string> diff_specs(const nlohmann::json& current, const nlohmann::json& proposed);

// The full dry-run report for `model`: a heading, then diff_specs() lines indented,
// or a line saying nothing would change. Ends with '\n'.
std::string render_dry_run(const std::string& model, const nlohmann::json& current,
                           const nlohmann::json& proposed);

}  // namespace quiver::cli
