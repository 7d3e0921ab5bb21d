// Evaluates a deployment rule's match against one request's headers and parameters.
#pragma once

#include "core/deployment_spec.h"
#include "core/params.h"

namespace quiver::routing {

// True when the request carries the rule's key and the comparison holds. A missing
// key never matches (not even not_equals), so a rule only ever routes requests that
// say something about its key.
bool rule_matches(const RuleMatch& match, const Headers& headers, const Params& params);

// The request's value for a sticky key, or "" when absent.
std::string sticky_key(const StickyConfig& sticky, const Headers& headers, const Params& params);

}  // namespace quiver::routing
