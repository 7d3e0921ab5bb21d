// RouteTable: the data plane's whole view of the world, an immutable snapshot
// swapped atomically by the lifecycle manager. A request loads the current snapshot
// once and uses only it, so it never waits on the control plane.
//
// Besides the live routes, the table knows every registered model's versions and
// aliases, so pinned requests resolve aliases and get precise errors without
// touching the registry.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/status.h"
#include "routing/model_route.h"

namespace quiver::routing {

struct ModelEntry {
  std::shared_ptr<const ModelRoute> route;  // null when the model has no live deployment
  std::set<int64_t> registered;             // every registered version
  std::map<std::string, int64_t, std::less<>> aliases;
  std::set<int64_t> pending;  // desired but not ready yet (loading, or failed)
};

class RouteTable {
 public:
  std::map<std::string, ModelEntry, std::less<>> models;

  const ModelEntry* find(std::string_view model) const;
  // A registered version number or alias -> the version; NotFound otherwise.
  Result<int64_t> resolve_ref(std::string_view model, std::string_view ref) const;
  // Resolves a pinned request's version (number or alias) to a live endpoint.
  // NotFound for an unknown model, version or alias, or a version not deployed;
  // Unavailable for a deployed version that is not ready yet.
  Result<const Endpoint*> resolve_pinned(std::string_view model, std::string_view ref) const;
  // The model's route, NotFound when unknown, Unavailable when deployed but not ready.
  Result<const ModelRoute*> route_for(std::string_view model) const;
};

// Holds the current snapshot. Thread-safety: any thread may load(); publish() is
// called by the lifecycle manager only.
class RoutePublisher {
 public:
  RoutePublisher() : current_(std::make_shared<const RouteTable>()) {}
  std::shared_ptr<const RouteTable> load() const { return current_.load(std::memory_order_acquire); }
  void publish(std::shared_ptr<const RouteTable> table) { current_.store(std::move(table), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const RouteTable>> current_;
};

}  // namespace quiver::routing
