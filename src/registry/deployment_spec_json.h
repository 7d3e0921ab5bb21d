// The JSON form of a deployment spec (API.md §3) <-> core/deployment_spec.h.
//
//   {"versions": [{"version": "3", "instances": 2}, {"version": "canary"}],
//    "traffic":  [{"version": "3", "weight": 90}, {"version": "canary", "weight": 10}],
//    "sticky":   {"header": "x-user-id"},
//    "rules":    [{"match": {"header": "x-beta", "equals": "1"}, "version": "canary"}],
//    "shadow":   [{"version": "4", "percent": 100}]}
//
// A request goes through three steps: parse (shape only; refs unresolved), resolve
// the refs against the registry, validate (semantics that need resolved numbers).
// serialize writes the normalized form stored in a revision, which also carries each
// ref's "resolved_version", so a revision stays reproducible after an alias moves.
// parse(serialize(spec)) == spec.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/deployment_spec.h"
#include "core/status.h"

namespace quiver::registry {

// Strict: malformed JSON, unknown or duplicate fields and wrong types are
// InvalidArgument naming the field and where it is ("unknown field 'wieght' in
// traffic[1]"). A version ref may be a string or a positive integer (kept as its
// decimal string). VersionRef.version is 0 unless the body carries
// "resolved_version" (as serialize writes it). Header names are lower-cased; rule
// operands in equals/not_equals/in are kept as strings (numbers in shortest form,
// booleans as "true"/"false").
Result<DeploymentSpec> parse_deployment_spec(std::string_view json_text);

// Semantic checks. Precondition: every VersionRef is resolved (version > 0); an
// unresolved one is InvalidArgument. Checks that each version is listed once, that
// traffic/rules/shadow name only listed versions, that weights sum above zero, and
// that a shadow target is not the only version receiving live traffic.
Status validate_deployment_spec(const DeploymentSpec& spec);

// The normalized JSON stored in a revision; empty optional sections are omitted.
std::string serialize_deployment_spec(const DeploymentSpec& spec);

// Resolves every ref whose version is still 0 through `resolver` (typically
// Registry::resolve for the model). Its errors come back prefixed with the field,
// e.g. "traffic[1].version: model 'iris' has no version or alias 'canary'".
using VersionResolver = std::function<Result<int64_t>(const std::string& ref)>;
Status resolve_version_refs(DeploymentSpec& spec, const VersionResolver& resolver);

}  // namespace quiver::registry
