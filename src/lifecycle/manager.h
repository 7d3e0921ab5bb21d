// LifecycleManager: reconciles desired state (deployments in the registry) with
// actual state (loaded servables), then publishes a route snapshot that holds only
// ready versions.
//
// Rules it keeps: new versions load and warm before a revision goes live; a revision
// goes live only when all its versions are ready, so a failed load leaves the
// previous revision serving; a version that is no longer wanted leaves routing first,
// drains its in-flight requests, and only then unloads.
//
// reconcile_once() is one deterministic step (tests call it directly); start() runs
// it on a background thread whenever notify() is called, and at a fixed interval.
//
// Thread-safety: all public methods may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/clock.h"
#include "core/deployment_spec.h"
#include "lifecycle/autoscaler.h"
#include "lifecycle/deployment_status.h"
#include "lifecycle/health.h"
#include "lifecycle/on_demand_loader.h"
#include "lifecycle/version_state.h"
#include "registry/registry.h"
#include "routing/route_table.h"
#include "serving/servable.h"
#include "store/blob_store.h"

namespace quiver::lifecycle {

// Turns a version's registered warmup request (an OIP JSON body) into input tensors.
using WarmupDecoder = std::function<Result<std::vector<Tensor>>(const std::string& warmup_json)>;

struct ManagerOptions {
  int intra_op_threads = 1;
  int warmup_runs = 3;
  // Small in-process models without batching run a request that finds them idle on the
  // submitting thread when their forward takes less than this
  // (serving::ServableConfig::inline_below). 0: never (submit() then never blocks its
  // caller); the server turns it on (`--inline-below-us`).
  std::chrono::microseconds inline_below{0};
  std::chrono::milliseconds interval{1000};
  // Runs before a version loads (the signature policy, auth/signature_policy.h); an
  // error fails the load with that message. Empty: no check.
  std::function<Status(const registry::VersionRecord&)> verify_before_load;
  // All on-demand versions together may keep this many bytes resident (`serve
  // --memory-budget`); 0: no limit. A deployment's memory_budget limits its model.
  int64_t memory_budget_bytes = 0;
  AutoscalerConfig autoscaler;
  // Replicas that share a registry: brings an artifact this server's blob store lacks
  // from the durable copy (store/remote_artifacts.h), hash-checked. Empty: a missing
  // artifact fails the load.
  std::function<Status(const std::string& sha256)> fetch_artifact;
  // Replicas: a new revision goes live here only when this says every other live
  // replica has its versions ready too, so a traffic move never sends users to a
  // version some replicas cannot serve yet. Empty: one server, no wait.
  std::function<bool(const std::string& model, const std::vector<int64_t>& versions)> cluster_ready;
};

class LifecycleManager {
 public:
  LifecycleManager(registry::Registry& registry, store::BlobStore& blobs, routing::RoutePublisher& routes,
                   metrics::MetricsRegistry* metrics, const Clock& clock, ManagerOptions options,
                   serving::BackendLoader loader, WarmupDecoder warmup_decoder);
  ~LifecycleManager();

  // One reconcile pass: load what is wanted, publish routes, retire what is not.
  void reconcile_once();
  void start();
  void notify();
  // A replica saw registry revision `revision` (cluster/cluster_node.h): the next pass
  // reads at least that, and applied_revision() then reports it.
  void notify_revision(int64_t revision);
  // The newest registry revision a completed pass has read (0: none yet).
  int64_t applied_revision() const { return applied_revision_.load(); }
  // A ready revision waits for other replicas (ManagerOptions::cluster_ready): the
  // server then wakes a pass after each heartbeat.
  bool held_for_cluster() const { return held_for_cluster_.load(); }
  // Stops the loop, then drains and unloads every servable.
  void stop();

  std::optional<DeploymentStatus> status(const std::string& model) const;
  std::vector<DeploymentStatus> all_status() const;
  // Every deployed model has at least one ready version live.
  bool ready() const;

  // Bandit shares: replaces the traffic weights of `model`'s route while it serves
  // `revision`, without writing a revision (shares move every tick; a revision per
  // tick would drown the history). A new revision drops the override. Republishes at
  // once; the request path stays today's weighted pick.
  void set_traffic_override(const std::string& model, int64_t revision, std::vector<TrafficWeight> traffic);

  // The loader of on-demand versions (benchmarks and tests drive it with step()).
  OnDemandLoader& on_demand() { return on_demand_; }

 private:
  // A servable is identified by what it was loaded with: a change to any serving
  // option (instances, batching, isolation, ...) loads a new servable beside the old.
  using Key = std::tuple<std::string, int64_t, std::string>;  // model, version, config_key()
  static Key key_of(const std::string& model, const DeployedVersion& dv);
  struct Entry {
    VersionStateMachine machine;
    std::shared_ptr<serving::Servable> servable;
    int64_t requested_by_revision = 0;  // a failed load is retried only by a newer revision
    double load_seconds = 0;
    std::optional<std::vector<Tensor>> probe_inputs;  // the warmup inputs; none: no probes
    HealthState health;
    std::map<std::string, std::string> metadata;  // the version's, for its PredictionTask
  };
  struct Desired {
    int64_t revision = 0;
    DeploymentSpec spec;
    std::string parse_error;
  };

  std::map<std::string, Desired> read_desired();
  // A restarted server whose newest revision fails to load serves the last revision
  // that served before (the audit log's "deployment.serving" entries say which), and
  // reports the failed one. Loads that revision's versions when it is needed.
  void load_fallbacks(const std::map<std::string, Desired>& desired);
  std::optional<Desired> last_served(const std::string& model, int64_t before_revision);
  void ensure_loaded(const std::string& model, const DeployedVersion& dv, int64_t revision);
  Result<std::shared_ptr<serving::Servable>> load_servable(const registry::VersionRecord& record,
                                                            const DeployedVersion& dv, VersionStateMachine& machine);
  // Fetches the artifact from the shared store when this server lacks it.
  Status ensure_artifact(const std::string& sha256);
  // An on-demand version: verified now, loaded by its first request.
  Result<std::shared_ptr<serving::Servable>> defer_servable(const registry::VersionRecord& record,
                                                             const DeployedVersion& dv, VersionStateMachine& machine);
  // Moves autoscaled versions' instance counts with their queues.
  void autoscale(const std::map<std::string, Desired>& desired);
  void publish(const std::map<std::string, Desired>& desired);
  void retire_unwanted(const std::map<std::string, Desired>& desired);
  // Probes ready versions and watches their error rates; true when an ejection or a
  // re-admission changed what routing should see.
  bool check_health(const std::map<std::string, Desired>& desired);
  std::set<int64_t> ejected_versions(const std::string& model, const Desired& d) const;  // mu_ held
  std::chrono::milliseconds loop_interval() const;
  bool in_published_route(const Key& key) const;
  DeploymentStatus build_status(const std::string& model, const Desired& d) const;
  void audit(const std::string& model, const std::string& action, const std::string& detail);
  void loop();

  registry::Registry& registry_;
  store::BlobStore& blobs_;
  routing::RoutePublisher& routes_;
  metrics::MetricsRegistry* metrics_;
  const Clock& clock_;
  ManagerOptions options_;
  serving::BackendLoader loader_;
  WarmupDecoder warmup_decoder_;

  std::atomic<int64_t> seen_revision_{0};     // the newest revision a replica was told of
  std::atomic<int64_t> applied_revision_{0};  // what the last pass that read the registry had seen
  bool read_ok_ = false;                      // the last read_desired() reached the registry
  std::atomic<bool> held_for_cluster_{false};  // the last publish held a revision back

  std::mutex reconcile_mu_;  // one reconcile pass at a time
  mutable std::mutex mu_;    // guards everything below; never held while loading
  std::map<Key, Entry> entries_;
  std::map<std::string, Desired> desired_;                      // as of the last pass
  std::map<std::string, std::shared_ptr<const routing::ModelRoute>> published_;
  std::map<std::string, int64_t> failure_reported_;  // model -> revision whose failure was audited
  std::map<std::string, Desired> fallback_;          // model -> the revision that serves meanwhile
  struct TrafficOverride {
    int64_t revision = 0;
    uint64_t generation = 0;
    std::vector<TrafficWeight> traffic;
  };
  std::map<std::string, TrafficOverride> overrides_;
  std::map<std::string, uint64_t> published_generation_;  // the override generation each route was built with
  uint64_t next_generation_ = 1;
  // Handed from load_servable to ensure_loaded (both on the reconcile thread).
  std::optional<std::vector<Tensor>> pending_probe_inputs_;

  OnDemandLoader on_demand_;
  Autoscaler autoscaler_;

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool wake_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace quiver::lifecycle
