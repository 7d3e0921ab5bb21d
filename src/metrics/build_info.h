// What this binary is: version, source commit and compiler, exported as
// quiver_build_info{version, commit, compiler} 1 so a dashboard can tell replicas
// running different builds apart (join on it, or count distinct versions).
//
// The commit is taken from git when CMake configures the build ("unknown" outside a
// checkout or without git), so it can lag behind when a tree is rebuilt without
// re-configuring.
#pragma once

#include <string>

#include "metrics/metrics_registry.h"

namespace quiver::metrics {

struct BuildInfo {
  std::string version;   // the project's version, e.g. "0.1.0"
  std::string commit;    // short git commit, or "unknown"
  std::string compiler;  // e.g. "gcc 12.2.0" or "clang 14.0.6"
};

BuildInfo build_info();

// Sets quiver_build_info{...} to 1. Idempotent.
void register_build_info(MetricsRegistry& registry);

}  // namespace quiver::metrics
