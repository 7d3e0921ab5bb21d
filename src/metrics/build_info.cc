#include "metrics/build_info.h"

// Defined for this file alone by src/CMakeLists.txt; the fallbacks keep other build
// systems (and a missing git) working.
#ifndef QUIVER_VERSION
#define QUIVER_VERSION "unknown"
#endif
#ifndef QUIVER_GIT_COMMIT
#define QUIVER_GIT_COMMIT "unknown"
#endif

namespace quiver::metrics {

namespace {

std::string compiler_name() {
#if defined(__clang__)
  return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__) + "." +
         std::to_string(__clang_patchlevel__);
#elif defined(__GNUC__)
  return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
         std::to_string(__GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

}  // namespace

BuildInfo build_info() {
  const std::string commit = QUIVER_GIT_COMMIT;
  return {QUIVER_VERSION, commit.empty() ? "unknown" : commit, compiler_name()};
}

void register_build_info(MetricsRegistry& registry) {
  const BuildInfo info = build_info();
  registry
      .gauge("quiver_build_info", "Always 1; the labels say which build of Quiver is running",
             {{"version", info.version}, {"commit", info.commit}, {"compiler", info.compiler}})
      .set(1);
}

}  // namespace quiver::metrics
