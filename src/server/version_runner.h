// VersionRunner: how offline evaluations (quality/) run a model version, whether or not
// it is deployed. A deployed, ready version runs in place, on its live servable, as
// probe traffic: it is not counted in the version's request metrics or error rate, so
// an evaluation never skews a rollout's comparison or trips health ejection. Any other
// version is loaded (blob verified first, one in-process instance, no metrics) for the
// evaluation's length and stopped by release().
//
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "quality/evaluation.h"
#include "registry/registry.h"
#include "routing/route_table.h"
#include "serving/servable.h"
#include "store/blob_store.h"

namespace quiver::server {

class VersionRunner {
 public:
  VersionRunner(routing::RoutePublisher& routes, registry::Registry& registry, store::BlobStore& blobs,
                serving::BackendLoader loader, int intra_op_threads);
  ~VersionRunner();  // stop()s
  // A check run before a version loads (the signature policy). Call before run().
  void set_verify_before_load(std::function<Status(const registry::VersionRecord&)> check) {
    verify_before_load_ = std::move(check);
  }

  // A quality::RunVersion. An input with an empty name is given the version's only
  // input's name.
  void run(const std::string& model, int64_t version, std::vector<Tensor> inputs, quality::RunDone done);
  // Stops the temporary servable loaded for (model, version), if any.
  void release(const std::string& model, int64_t version);
  // Stops every temporary servable.
  void stop();

 private:
  Result<std::shared_ptr<serving::Servable>> temporary(const std::string& model, int64_t version);

  routing::RoutePublisher& routes_;
  registry::Registry& registry_;
  store::BlobStore& blobs_;
  serving::BackendLoader loader_;
  int intra_op_threads_;
  std::function<Status(const registry::VersionRecord&)> verify_before_load_;

  std::mutex mu_;  // guards loaded_; held while loading, so one load per version
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<serving::Servable>> loaded_;
};

}  // namespace quiver::server
