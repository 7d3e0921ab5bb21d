#pragma once

#include "core/route_kind.h"

namespace quiver::routing {
using quiver::RouteKind;
using quiver::route_kind_name;
}  // namespace quiver::routing
