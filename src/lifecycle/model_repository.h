// ModelRepository: the protocol's model repository extension (index, load, unload,
// model configuration) mapped onto Quiver's own state, for the HTTP and gRPC
// frontends alike.
//
// Quiver has no directory of models to scan: the registry is the repository. So
//  - index lists every registered version with the state the lifecycle manager
//    reports for it (or UNAVAILABLE "not deployed");
//  - load writes a deployment revision through the registry, like PUT
//    /v1/deployments/{m}: a model without a deployment gets one serving its newest
//    version (or the one asked for); a deployed model that lacks the asked version
//    gets it added without routed traffic (pinned requests reach it); otherwise no
//    revision is written and load just waits for the deployment to be ready;
//  - unload deletes the deployment, like DELETE /v1/deployments/{m}.
// Every write is one registry revision with its audit entry, and wakes the manager.
//
// Stock clients expect load and unload to return when the model is (un)loaded, so
// await() calls back once the deployment settles. It never blocks the caller's
// thread: one waiter thread looks at pending waits every few milliseconds (step()
// does one look, for tests with a FakeClock).
//
// Thread-safety: every public method may be called from any thread. Callbacks run
// on the waiter thread (or inline from await()/stop()); they must not block.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/signature.h"
#include "core/status.h"
#include "lifecycle/manager.h"
#include "registry/registry.h"
#include "routing/route_table.h"

namespace quiver::lifecycle {

// One row of the repository index.
struct RepositoryEntry {
  std::string model;
  int64_t version = 0;
  std::string state;   // "READY" | "LOADING" | "UNLOADING" | "UNAVAILABLE"
  std::string reason;  // why it is not ready; "" when ready
};

// What a model's configuration request answers.
struct ModelConfigView {
  std::string name;
  int64_t version = 0;       // the version it describes
  std::string framework;     // "torchscript" | "onnx"
  int max_batch_size = 0;    // 0: no batch dimension is implied
  ModelSignature signature;  // dims without the batch dimension when max_batch_size > 0
  int instances = 1;
  std::vector<int> preferred_batch_sizes;
  int64_t max_queue_delay_us = 0;
  bool dynamic_batching = false;
};

// What a load or an unload did.
struct RepositoryChange {
  std::string model;
  int64_t revision = 0;   // the revision to wait for: the one written, else the current one (0: none)
  bool written = false;   // false: the deployment already was as asked
  std::vector<int64_t> versions;  // the deployment's versions after a load
};

enum class AwaitKind { kLoaded, kUnloaded };

class ModelRepository {
 public:
  using Done = std::function<void(Status)>;

  ModelRepository(registry::Registry& registry, LifecycleManager& manager, routing::RoutePublisher& routes,
                  const Clock& clock);
  ~ModelRepository();  // stop()s
  ModelRepository(const ModelRepository&) = delete;
  ModelRepository& operator=(const ModelRepository&) = delete;

  // Every registered version of every model (only ready ones with ready_only), by
  // model name then version.
  Result<std::vector<RepositoryEntry>> index(bool ready_only) const;

  // `version_ref`: a version number or alias; none: the newest registered version.
  // NotFound for an unknown model or version.
  Result<RepositoryChange> load(const std::string& model, const std::optional<std::string>& version_ref,
                                const registry::Actor& actor);
  // NotFound for an unknown model; a model without a deployment is already unloaded.
  Result<RepositoryChange> unload(const std::string& model, const registry::Actor& actor);

  // The configuration of `version_ref` (none: the version routed traffic goes to,
  // else the newest registered). Tensors come from the live servable's signature when
  // the version is loaded, otherwise from the registered one.
  Result<ModelConfigView> config(const std::string& model, const std::optional<std::string>& version_ref) const;

  // Calls `done` once the model is loaded (the manager has taken up `revision` or a
  // later one and its deployment is ready: OK; failed: Unavailable with the failure)
  // or unloaded (no route left), or with DeadlineExceeded after `timeout`. When that
  // already holds, `done` runs inline.
  void await(const RepositoryChange& change, AwaitKind kind, std::chrono::milliseconds timeout, Done done);

  // Whether the wait is over: nullopt while it is not.
  std::optional<Status> settled(const std::string& model, AwaitKind kind, int64_t revision) const;

  // One look at every pending wait (the waiter thread's step; tests call it).
  void step();
  void start();
  // Answers every pending wait with Unavailable, then joins. Idempotent.
  void stop();

 private:
  struct Wait {
    std::string model;
    AwaitKind kind;
    int64_t revision = 0;
    std::chrono::steady_clock::time_point deadline;
    Done done;
  };

  registry::Registry& registry_;
  LifecycleManager& manager_;
  routing::RoutePublisher& routes_;
  const Clock& clock_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Wait> waits_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace quiver::lifecycle
