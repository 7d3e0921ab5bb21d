// A deployment: which versions of one model are live and how routed traffic is
// split between them. Plain data shared by the control plane (registry parses and
// stores it, lifecycle loads it) and the data plane (routing compiles it into a
// route snapshot). The JSON form is API.md §3; registry/deployment_spec_json.h
// parses and validates it.
//
// Every version reference keeps what the user wrote (`ref`: "3" or "canary") and the
// number it resolved to when the revision was made, so a revision is reproducible
// even after an alias moves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quiver {

struct VersionRef {
  std::string ref;      // as written: a number or an alias
  int64_t version = 0;  // resolved; 0 until resolved
  bool operator==(const VersionRef&) const = default;
};

struct DeployedVersion {
  VersionRef version;
  int instances = 1;
  bool operator==(const DeployedVersion&) const = default;
};

struct TrafficWeight {
  VersionRef version;
  uint32_t weight = 0;
  bool operator==(const TrafficWeight&) const = default;
};

// Where a routing key or a rule's operand comes from.
enum class KeySource { kHeader, kParameter };

struct StickyConfig {
  KeySource source = KeySource::kHeader;
  std::string key;  // header name (lower case) or request parameter name
  bool operator==(const StickyConfig&) const = default;
};

enum class MatchOp { kEquals, kNotEquals, kIn, kGt, kGte, kLt, kLte };

struct RuleMatch {
  KeySource source = KeySource::kHeader;
  std::string key;
  MatchOp op = MatchOp::kEquals;
  std::vector<std::string> values;  // one for equals/not_equals, several for in
  double number = 0;                // for gt/gte/lt/lte
  bool operator==(const RuleMatch&) const = default;
};

struct RouteRule {
  RuleMatch match;
  VersionRef version;
  bool operator==(const RouteRule&) const = default;
};

struct ShadowTarget {
  VersionRef version;
  double percent = 100;  // share of routed requests mirrored, 0..100
  bool operator==(const ShadowTarget&) const = default;
};

struct DeploymentSpec {
  std::vector<DeployedVersion> versions;  // live versions; the first is the default
  std::vector<TrafficWeight> traffic;     // empty: all to versions[0]
  std::optional<StickyConfig> sticky;
  std::vector<RouteRule> rules;  // first match wins
  std::vector<ShadowTarget> shadow;
  bool operator==(const DeploymentSpec&) const = default;
};

}  // namespace quiver
