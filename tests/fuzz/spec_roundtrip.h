// The deployment-spec invariants both spec targets check on every spec that parses:
//   - parse(serialize(x)) == x, and serialize is a fixed point of that round trip;
//   - the same after resolving every version ref (serialize then also writes
//     "resolved_version"), which is the form stored in a revision;
//   - validate_deployment_spec returns a Status (it may refuse) and never crashes.
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <string>

#include "fuzz_check.h"
#include "registry/deployment_spec_json.h"

namespace quiver::fuzz {

inline void check_round_trip(const DeploymentSpec& spec, const char* stage) {
  const std::string text = registry::serialize_deployment_spec(spec);
  auto again = registry::parse_deployment_spec(text);
  FUZZ_CHECK(again.is_ok(), "%s: serialized spec does not parse: %s\n  %s", stage, again.status().message().c_str(),
             text.c_str());
  FUZZ_CHECK(*again == spec, "%s: parse(serialize(spec)) != spec\n  %s", stage, text.c_str());
  FUZZ_CHECK(registry::serialize_deployment_spec(*again) == text, "%s: serialize is not stable\n  %s", stage,
             text.c_str());
}

// Resolves refs the way a registry would: digits are the version they spell (leading
// zeros and all, as the registry reads them), an alias gets a small number derived
// from its text (so two aliases may name one version, as in real life).
inline Result<int64_t> fake_resolve(const std::string& ref) {
  if (!ref.empty() && ref.find_first_not_of("0123456789") == std::string::npos) {
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), n);
    if (ec != std::errc() || ptr != ref.data() + ref.size()) return not_found("no version " + ref);
    return n;
  }
  return static_cast<int64_t>(std::hash<std::string>{}(ref) % 7 + 1);
}

inline void check_spec(DeploymentSpec spec) {
  check_round_trip(spec, "as parsed");
  (void)registry::validate_deployment_spec(spec);  // unresolved refs: refused, no crash
  if (registry::resolve_version_refs(spec, fake_resolve).is_ok()) {
    check_round_trip(spec, "resolved");
    (void)registry::validate_deployment_spec(spec);
  }
}

}  // namespace quiver::fuzz
