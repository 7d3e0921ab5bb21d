// Why a request went to the version it went to. In core because both routing
// (which decides) and serving (which counts it per version) speak of it.
#pragma once

#include <string_view>

namespace quiver {

enum class RouteKind { kDefault, kWeighted, kSticky, kRule, kPinned, kShadow };

constexpr std::string_view route_kind_name(RouteKind kind) {
  switch (kind) {
    case RouteKind::kDefault: return "default";
    case RouteKind::kWeighted: return "weighted";
    case RouteKind::kSticky: return "sticky";
    case RouteKind::kRule: return "rule";
    case RouteKind::kPinned: return "pinned";
    case RouteKind::kShadow: return "shadow";
  }
  return "unknown";
}

}  // namespace quiver
