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
// Thread-safety: submit(), stats and accessors may be called from any thread.
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
};

// Loads one backend instance; replaceable in tests.
using BackendLoader = std::function<Result<std::unique_ptr<backends::Backend>>(const backends::LoadRequest&)>;

class Servable {
 public:
  // Loads config.instances backends (all must load) and starts one worker each.
  static Result<std::shared_ptr<Servable>> load(const ServableConfig& config, const BackendLoader& loader,
                                                metrics::MetricsRegistry* metrics);
  ~Servable();  // stop()s as a safety net
  Servable(const Servable&) = delete;
  Servable& operator=(const Servable&) = delete;

  const std::string& model() const { return config_.model; }
  int64_t version() const { return config_.version; }
  const std::string& framework() const { return config_.framework; }
  int instances() const { return config_.instances; }
  const ModelSignature& signature() const { return signature_; }

  // Checks the inputs against the signature, then queues the work. `done` is called
  // exactly once: inline for a rejected request (bad input: InvalidArgument, queue
  // full: ResourceExhausted, stopping: Unavailable), otherwise on a worker thread.
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

  Servable(ServableConfig config, metrics::MetricsRegistry* metrics);
  void worker_loop(size_t instance);
  void run_batch(backends::Backend& backend, Batch& batch);
  void answer_expired(QueuedRequest& request);
  // Records the request's statistics, stops counting it in flight, then answers it.
  void finish(QueuedRequest& request, Result<std::vector<Tensor>> result, SteadyClock::time_point started,
              SteadyClock::time_point finished);
  std::string describe() const;  // "model 'm' version v"

  ServableConfig config_;
  ModelSignature signature_;
  std::vector<std::unique_ptr<backends::Backend>> instances_;
  ServableStats stats_;

  BatchQueue queue_;
  std::atomic<int64_t> in_flight_{0};
  std::vector<std::thread> workers_;
  std::once_flag stop_once_;
};

}  // namespace quiver::serving
