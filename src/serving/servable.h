// Servable: one loaded model version serving requests. It owns a pool of backend
// instances, each driven by its own worker thread, fed from one bounded queue whose
// dynamic batcher merges compatible requests into one backend call
// (serving/batch_queue.h). Each request may carry a deadline; one that passes while
// the request is queued answers DeadlineExceeded without running it.
//
// Ownership and lifetime: the lifecycle manager owns every Servable through a
// shared_ptr and is the only one that calls stop(). The data plane borrows it through
// the route snapshot (another shared_ptr) only while it submits; completion callbacks
// must not capture the Servable. So the last reference is always dropped by the
// lifecycle manager after draining, never by a worker or an I/O thread.
//
// Residency. An eager servable (load()) is resident from the start. An on-demand one
// (deferred()) starts cold and loads its instances only when work arrives:
//
//   cold ──first submit──► loading ──make_resident() ok──► resident ──evict()──► cold
//                             └── make_resident() fails: queued requests fail ──► cold
//
// The first submit while cold calls the demand hook once (the lifecycle's on-demand
// loader, which loads on its own thread); requests queue meanwhile with their
// deadlines. evict() refuses while anything is in flight: a submit counts itself in
// flight before it reads the residency, and evict() publishes `cold` before it reads
// the in-flight count, so one of the two always sees the other.
//
// Thread-safety: submit(), stats and accessors may be called from any thread;
// make_resident(), evict() and set_instances() from control threads (they block
// while backends load or workers finish).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "core/deployment_spec.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"
#include "serving/batch_queue.h"
#include "serving/servable_stats.h"

namespace quiver::metrics { class MetricsRegistry; }

namespace quiver::serving {

struct ServableConfig {
  std::string model;
  int64_t version = 0;
  std::string framework;
  std::filesystem::path artifact_path;
  ModelSignature declared;
  int instances = 1;
  int intra_op_threads = 1;
  size_t max_queue = 1024;  // beyond this, submit() answers ResourceExhausted
  BatchingConfig batching;               // max_batch_size 1: every request runs alone
  std::chrono::milliseconds timeout{0};  // deadline in the queue; 0: none
  Isolation isolation = Isolation::kInProcess;
  int64_t memory_limit_mb = 0;
  // isolation: process only: the longest one backend call may take in a worker
  // process; then its requests fail with DeadlineExceeded (504) and the worker is
  // killed and restarted (backends/process/remote_backend.h). 0: no limit.
  std::chrono::milliseconds worker_timeout{30'000};
  // Run a request on the submitting thread (an I/O thread) instead of handing it to a
  // worker, when the version runs in process without batching, has no other request in
  // flight, and its recent forward took less than this. Saves the two thread hand-offs
  // that dominate a small model's latency at low load. 0: never.
  std::chrono::microseconds inline_below{0};
  // Load (and warm) instances on a helper thread at a lower CPU priority than serving
  // (serving/background_priority.h). Applied only in process with one intra-op thread:
  // a worker process or an intra-op pool started there would keep the low priority.
  bool background_load = true;
  // Warmup: each instance, once loaded and before it serves, runs `warmup_runs` times
  // on the inputs `warmup_inputs` makes for its signature (nullopt or unset: none).
  // A failing run fails the load ("warmup failed: ...").
  int warmup_runs = 0;
  std::function<std::optional<std::vector<Tensor>>(const ModelSignature&)> warmup_inputs;
  // Called once every instance of a load() has loaded, before warmup starts (the
  // lifecycle's loading -> warming transition); on load()'s thread, and dropped
  // before load() returns.
  std::function<void()> on_loaded;
};

// Loads one backend instance; replaceable in tests.
using BackendLoader = std::function<Result<std::unique_ptr<backends::Backend>>(const backends::LoadRequest&)>;

class Servable;
// Called (once per cold period) by the first submit that finds an on-demand servable
// cold. Must not block: it hands the servable to a loader thread.
using DemandHook = std::function<void(std::weak_ptr<Servable>)>;

enum class Residency { kCold, kLoading, kResident };

class Servable : public std::enable_shared_from_this<Servable> {
 public:
  // Loads config.instances backends (all must load) and starts one worker each.
  static Result<std::shared_ptr<Servable>> load(const ServableConfig& config, const BackendLoader& loader,
                                                metrics::MetricsRegistry* metrics);
  // An on-demand servable: nothing loads until the first request (see Residency).
  // Until its first load the signature is config.declared.
  static Result<std::shared_ptr<Servable>> deferred(const ServableConfig& config, BackendLoader loader,
                                                    metrics::MetricsRegistry* metrics, DemandHook on_demand);
  ~Servable();  // stop()s as a safety net
  Servable(const Servable&) = delete;
  Servable& operator=(const Servable&) = delete;

  const std::string& model() const { return config_.model; }
  int64_t version() const { return config_.version; }
  const std::string& framework() const { return config_.framework; }
  // Instances running now (0 while cold; the autoscaler moves it).
  int instances() const { return active_instances_.load(std::memory_order_relaxed); }
  // The backend's signature once loaded; before an on-demand version's first load,
  // the declared one.
  const ModelSignature& signature() const {
    return signature_known_.load(std::memory_order_acquire) ? signature_ : config_.declared;
  }

  Residency residency() const { return residency_.load(); }
  bool on_demand() const { return static_cast<bool>(on_demand_); }
  // When work last arrived (steady clock, ns since its epoch): the LRU order.
  int64_t last_used_ns() const { return last_used_ns_.load(std::memory_order_relaxed); }
  // Requests waiting for an instance (queue depth; the autoscaler's signal).
  size_t queued() const { return queue_.size(); }

  // Loads the instances of a cold (or loading) servable and starts their workers;
  // on failure answers every queued request with Unavailable naming the cause and
  // goes back to cold. OK at once when already resident.
  Status make_resident();
  // Unloads every instance when nothing is queued or running, and goes cold: true.
  // False (nothing changes) when work is in flight or it is not resident.
  bool evict();
  // Grows or shrinks a resident servable's pool to `n` instances (n >= 1). Growing
  // loads in the caller's thread; shrinking lets the retired workers finish their
  // batch first. A cold servable only remembers nothing: it loads config.instances.
  Status set_instances(int n);

  // Checks the inputs against the signature, then queues the work. `done` is called
  // exactly once: inline for a rejected request (bad input: InvalidArgument, queue
  // full: ResourceExhausted, stopping: Unavailable) and for a request run inline
  // (config.inline_below: then submit() returns after the forward), otherwise on a
  // worker thread.
  // The request's deadline is the earlier of `deadline` and now + config.timeout
  // (when set); if it passes while the request is queued, `done` gets
  // DeadlineExceeded and the backend never sees the request.
  void submit(std::vector<Tensor> inputs, InferDone done,
              std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);
  // Blocking convenience for warmup and probes (not for the request path). Its
  // requests are not counted in the version's statistics or metrics and have no
  // deadline.
  Result<std::vector<Tensor>> infer_sync(std::vector<Tensor> inputs);
  // Asynchronous health probe: like submit(), but not counted as user traffic.
  void probe(std::vector<Tensor> inputs, InferDone done) { enqueue(std::move(inputs), std::move(done), false); }

  // Queued plus running requests. A request stops counting before its callback runs.
  int64_t in_flight() const { return in_flight_.load(); }
  ServableStats& stats() { return stats_; }
  const ServableStats& stats() const { return stats_; }

  // Finishes queued work, then joins the workers. Idempotent. New submits fail with
  // Unavailable once stopping has begun.
  void stop();

 private:
  void enqueue(std::vector<Tensor> inputs, InferDone done, bool counted,
               std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

  // One backend instance and the thread that feeds it. Shared with the inline
  // snapshot (runners_), so a submitting thread that read an older snapshot still
  // holds a live Worker; its backend is only freed after join_retired() or stop()
  // claimed `busy` for good.
  struct Worker {
    std::unique_ptr<backends::Backend> backend;
    std::thread thread;
    std::atomic<bool> quit{false};
    std::atomic<bool> busy{false};  // claimed by whoever runs the backend now
  };
  using Runners = std::vector<std::shared_ptr<Worker>>;

  Servable(ServableConfig config, metrics::MetricsRegistry* metrics);
  backends::LoadRequest load_request();
  // Loads (and warms, when `warm`) n instances, at background priority when allowed.
  Result<std::vector<std::unique_ptr<backends::Backend>>> load_backends(int n, bool warm = false);
  Result<std::vector<std::unique_ptr<backends::Backend>>> load_backends_here(int n, bool warm);
  void start_workers(std::vector<std::unique_ptr<backends::Backend>> backends);  // pool_mu_ held
  // Tells the last `n` workers to quit and takes them out of the pool (pool_mu_
  // held); join_retired() then waits for them and frees their backends, without
  // pool_mu_.
  std::vector<std::shared_ptr<Worker>> detach_workers(size_t n);
  void join_retired(std::vector<std::shared_ptr<Worker>> retired);
  void publish_runners();  // pool_mu_ held: runners_ = workers_
  // Runs `request` at once on an idle instance when the inline rule allows it; false
  // (nothing happened) otherwise.
  bool try_run_inline(QueuedRequest& request);
  bool inline_allowed() const;
  void note_run_time(SteadyClock::duration took);
  // A cold submit: starts the load when it is the first, and queues the request.
  void enqueue_cold(QueuedRequest& request);
  void push(QueuedRequest& request);
  void fail_all(std::vector<QueuedRequest> requests, const Status& why);
  void worker_loop(Worker* worker);
  // Claims the instance (`busy`) for the backend call only, not for the callbacks.
  void run_batch(backends::Backend& backend, std::atomic<bool>& busy, Batch& batch);
  void answer_expired(QueuedRequest& request);
  // Records the request's statistics, stops counting it in flight, then answers it.
  void finish(QueuedRequest& request, Result<std::vector<Tensor>> result, SteadyClock::time_point started,
              SteadyClock::time_point finished);
  std::string describe() const;  // "model 'm' version v"

  ServableConfig config_;
  ModelSignature signature_;                // written once, before signature_known_
  std::atomic<bool> signature_known_{false};
  BackendLoader loader_;
  DemandHook on_demand_;                    // empty: eager
  ServableStats stats_;

  BatchQueue queue_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<Residency> residency_{Residency::kResident};
  std::atomic<int64_t> last_used_ns_{0};
  std::atomic<int> active_instances_{0};

  std::mutex pool_mu_;  // guards workers_, stopped_ and residency changes
  std::vector<std::shared_ptr<Worker>> workers_;
  bool stopped_ = false;
  // The instances a submitting thread may run inline (a copy of workers_).
  std::atomic<std::shared_ptr<const Runners>> runners_;
  // A moving average of one request's backend time (ns; 0: none measured yet).
  std::atomic<int64_t> run_ns_avg_{0};
  std::once_flag stop_once_;
};

}  // namespace quiver::serving
