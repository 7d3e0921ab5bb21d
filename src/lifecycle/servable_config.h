// How a registered version becomes a servable's configuration: one place, so the
// lifecycle manager and anything else that loads a version (offline evaluations of a
// version that is not deployed) load it the same way.
#pragma once

#include <filesystem>

#include "core/deployment_spec.h"
#include "registry/registry.h"
#include "serving/servable.h"

namespace quiver::lifecycle {

// `artifact` is the verified blob's path; `dv` carries the serving options (a default
// DeployedVersion gives one plain instance).
inline serving::ServableConfig servable_config(const registry::VersionRecord& record,
                                               const std::filesystem::path& artifact, const DeployedVersion& dv,
                                               int intra_op_threads) {
  serving::ServableConfig config;
  config.model = record.model;
  config.version = record.version;
  config.framework = record.framework;
  config.artifact_path = artifact;
  config.declared = record.signature;
  config.instances = dv.instances;
  config.intra_op_threads = intra_op_threads;
  config.batching = dv.batching;
  config.max_queue = static_cast<size_t>(dv.max_queue);
  config.timeout = std::chrono::milliseconds(dv.timeout_ms);
  config.isolation = dv.isolation;
  config.memory_limit_mb = dv.memory_limit_mb;
  config.worker_timeout = std::chrono::milliseconds(dv.worker_timeout_ms);
  return config;
}

}  // namespace quiver::lifecycle
