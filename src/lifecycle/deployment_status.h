// What the lifecycle manager reports about a deployment: per version state, ready
// instances, configured and observed traffic share, and request statistics.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quiver::lifecycle {

struct VersionStatus {
  int64_t version = 0;
  std::string state;  // version_state_name()
  int instances = 0;
  int ready_instances = 0;
  std::string error;  // why it failed, when it did
  bool ejected = false;        // out of routing after failing health checks
  std::string ejected_reason;
  double load_seconds = 0;  // time to ready
  double traffic_share = 0;   // configured, 0..1
  double observed_share = 0;  // of routed requests since it was loaded, 0..1
  uint64_t requests = 0;
  uint64_t errors = 0;
  double rps = 0;  // over the last ten seconds
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t worker_restarts = 0;  // isolation: process: worker processes restarted (hung or died)
};

struct DeploymentStatus {
  std::string model;
  int64_t revision = 0;          // the desired (newest) revision
  int64_t serving_revision = 0;  // the revision whose routes are live; 0 when none
  std::string state;             // "ready" | "progressing" | "failed"
  std::string message;
  std::vector<VersionStatus> versions;
};

}  // namespace quiver::lifecycle
