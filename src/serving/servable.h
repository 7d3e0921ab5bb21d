// Servable: one loaded model version serving requests. It owns a pool of backend
// instances, each driven by its own worker thread, fed from one bounded queue.
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
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "core/deployment_spec.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"
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
  BatchingConfig batching;
  std::chrono::milliseconds timeout{0};  // deadline in the queue; 0: none
  Isolation isolation = Isolation::kInProcess;
  int64_t memory_limit_mb = 0;
};

using InferDone = std::function<void(Result<std::vector<Tensor>>)>;

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
  // exactly once: inline for a rejected request, otherwise on a worker thread.
  void submit(std::vector<Tensor> inputs, InferDone done);
  // Blocking convenience for warmup and probes (not for the request path). Its
  // requests are not counted in the version's statistics or metrics.
  Result<std::vector<Tensor>> infer_sync(std::vector<Tensor> inputs);

  // Queued plus running requests.
  int64_t in_flight() const { return in_flight_.load(); }
  ServableStats& stats() { return stats_; }
  const ServableStats& stats() const { return stats_; }

  // Finishes queued work, then joins the workers. Idempotent. New submits fail with
  // Unavailable once stopping has begun.
  void stop();

 private:
  struct Work {
    std::vector<Tensor> inputs;
    InferDone done;
    std::chrono::steady_clock::time_point enqueued;
    bool counted = true;  // false for warmup and probes
  };
  void enqueue(std::vector<Tensor> inputs, InferDone done, bool counted);

  Servable(ServableConfig config, metrics::MetricsRegistry* metrics);
  void worker_loop(size_t instance);

  ServableConfig config_;
  ModelSignature signature_;
  std::vector<std::unique_ptr<backends::Backend>> instances_;
  ServableStats stats_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::atomic<int64_t> in_flight_{0};
  std::vector<std::thread> workers_;
  std::once_flag stop_once_;
};

}  // namespace quiver::serving
