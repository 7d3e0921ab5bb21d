// OnDemandLoader: loads on-demand versions when their first request arrives and
// evicts the least recently used ones beyond the memory budgets.
//
// The data plane never changes: an on-demand version's route entry is a deferred
// Servable (serving/servable.h) that stays in the route snapshot whether loaded or
// not. Its first request queues in it and calls demand() through the servable's hook;
// concurrent first requests find it already loading and just queue, so one load
// serves them all. This loader's thread then makes room under the budgets (evicting
// idle versions, least recently used first, lifecycle/memory_budget.h), loads the
// instances, measures the memory they took, and the queued requests run.
//
// step() does one budget pass and the pending loads on the caller's thread (tests
// and the reconcile loop call it); start() runs it on a thread of its own whenever a
// demand arrives.
//
// Metrics, labelled by model and version: quiver_model_loads_total,
// quiver_model_evictions_total, quiver_cold_start_seconds (load time of an
// on-demand version, histogram), quiver_model_resident_bytes (gauge, 0 when cold).
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "lifecycle/memory_budget.h"
#include "serving/servable.h"

namespace quiver::metrics { class MetricsRegistry; }

namespace quiver::lifecycle {

class OnDemandLoader {
 public:
  // `server_budget_bytes`: all on-demand versions together (0: no limit).
  OnDemandLoader(metrics::MetricsRegistry* metrics, const Clock& clock, int64_t server_budget_bytes);
  ~OnDemandLoader();
  OnDemandLoader(const OnDemandLoader&) = delete;
  OnDemandLoader& operator=(const OnDemandLoader&) = delete;

  // The hook to give Servable::deferred().
  serving::DemandHook hook();
  // Starts managing `servable` (created with hook()); `artifact_bytes` is the lower
  // bound of its memory until a load measures it.
  void track(const std::shared_ptr<serving::Servable>& servable, int64_t artifact_bytes);
  // Stops managing it (it is being unloaded).
  void forget(const serving::Servable* servable);
  void set_model_budget(const std::string& model, int64_t bytes);

  // Evicts idle versions beyond the budgets, then loads every version waiting for its
  // first request (making room for each).
  void step();
  void start();
  void stop();

  // What is resident now, for status and tests.
  struct Resident {
    std::string model;
    int64_t version = 0;
    int64_t bytes = 0;
  };
  std::vector<Resident> resident() const;
  int64_t resident_bytes() const;
  int64_t server_budget() const { return server_budget_; }

 private:
  struct Tracked {
    std::weak_ptr<serving::Servable> servable;
    std::string model;
    int64_t version = 0;
    int64_t artifact_bytes = 0;
    int64_t bytes = 0;  // largest measurement so far (>= artifact_bytes)
    bool resident = false;
  };

  void demand(std::weak_ptr<serving::Servable> servable);
  void load_one(const std::shared_ptr<serving::Servable>& servable);
  // Evicts to fit `incoming` bytes of `model` (0: enforce as is); mu_ not held.
  void make_room(const std::string& model, int64_t incoming, const serving::Servable* except);
  void enforce();
  void record_eviction(const Tracked& t);
  void set_resident_gauge(const Tracked& t, int64_t bytes);
  void loop();

  metrics::MetricsRegistry* metrics_;
  const Clock& clock_;
  const int64_t server_budget_;

  mutable std::mutex mu_;
  std::map<const serving::Servable*, Tracked> tracked_;
  std::map<std::string, int64_t> model_budgets_;
  std::deque<std::weak_ptr<serving::Servable>> pending_;

  std::mutex step_mu_;  // one step at a time: loads and evictions never interleave
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace quiver::lifecycle
