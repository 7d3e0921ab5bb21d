#include "serving/servable.h"

#include <algorithm>
#include <cmath>
#include <future>

#include "serving/background_priority.h"
#include "serving/batching.h"

namespace quiver::serving {

using Clock = SteadyClock;

// Claims a worker's instance, waiting while another thread runs it.
static void claim(std::atomic<bool>& busy) {
  while (busy.exchange(true, std::memory_order_acquire)) busy.wait(true, std::memory_order_relaxed);
}

static void release(std::atomic<bool>& busy) {
  busy.store(false, std::memory_order_release);
  busy.notify_one();
}

namespace {
// Holds an instance's `busy` claim for one backend call; released as soon as the call
// returns, before any answer's callback runs (which may submit again and find the
// instance free).
class InstanceClaim {
 public:
  explicit InstanceClaim(std::atomic<bool>& busy) : busy_(busy) { claim(busy_); }
  ~InstanceClaim() { release_now(); }
  InstanceClaim(const InstanceClaim&) = delete;
  InstanceClaim& operator=(const InstanceClaim&) = delete;
  void release_now() {
    if (held_) release(busy_);
    held_ = false;
  }

 private:
  std::atomic<bool>& busy_;
  bool held_ = true;
};
}  // namespace

static double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

static long long whole_ms(Clock::duration d) {
  return std::llround(std::chrono::duration<double, std::milli>(d).count());
}

static Result<std::vector<Tensor>> guarded_infer(backends::Backend& backend, const std::vector<Tensor>& inputs) {
  try {
    return backend.infer(inputs);
  } catch (const std::exception& e) {
    return internal_error(std::string("model raised: ") + e.what());
  } catch (...) {
    return internal_error("model raised an unknown exception");
  }
}

Servable::Servable(ServableConfig config, metrics::MetricsRegistry* metrics)
    : config_(std::move(config)),
      stats_(metrics, config_.model, config_.version),
      queue_(config_.max_queue, config_.batching) {}

static Status check_config(const ServableConfig& config) {
  if (config.instances < 1) return invalid_argument("instances must be at least 1");
  if (config.batching.max_batch_size < 1) return invalid_argument("batching.max_batch_size must be at least 1");
  if (config.batching.max_queue_delay_us < 0) return invalid_argument("batching.max_queue_delay_us must be >= 0");
  return Status::ok();
}

Result<std::shared_ptr<Servable>> Servable::load(const ServableConfig& config, const BackendLoader& loader,
                                                 metrics::MetricsRegistry* metrics) {
  QUIVER_RETURN_IF_ERROR(check_config(config));
  std::shared_ptr<Servable> s(new Servable(config, metrics));
  s->loader_ = loader;
  auto backends = s->load_backends(config.instances, /*warm=*/true);
  // It may capture the caller's state by reference: never kept past this call.
  s->config_.on_loaded = nullptr;
  if (!backends.is_ok()) return backends.status();
  std::lock_guard lock(s->pool_mu_);
  s->start_workers(std::move(backends).value());
  return s;
}

Result<std::shared_ptr<Servable>> Servable::deferred(const ServableConfig& config, BackendLoader loader,
                                                     metrics::MetricsRegistry* metrics, DemandHook on_demand) {
  QUIVER_RETURN_IF_ERROR(check_config(config));
  if (!on_demand) return invalid_argument("an on-demand servable needs a demand hook");
  std::shared_ptr<Servable> s(new Servable(config, metrics));
  s->loader_ = std::move(loader);
  s->on_demand_ = std::move(on_demand);
  s->residency_.store(Residency::kCold);
  return s;
}

backends::LoadRequest Servable::load_request() {
  backends::LoadRequest req{config_.framework, config_.artifact_path, config_.declared, config_.intra_op_threads};
  req.isolated = config_.isolation == Isolation::kProcess;
  req.memory_limit_mb = config_.memory_limit_mb;
  req.label = describe();
  if (req.isolated) {
    req.worker_timeout_ms = config_.worker_timeout.count();
    // The instances (and their monitor threads, which call this) are destroyed before
    // stats_: see ~Servable.
    req.on_worker_restart = [stats = &stats_](const std::string& reason) { stats->record_worker_restart(reason); };
  }
  return req;
}

Result<std::vector<std::unique_ptr<backends::Backend>>> Servable::load_backends(int n, bool warm) {
  const bool background =
      config_.background_load && config_.isolation == Isolation::kInProcess && config_.intra_op_threads <= 1;
  if (!background) return load_backends_here(n, warm);
  Result<std::vector<std::unique_ptr<backends::Backend>>> out = internal_error("not loaded");
  run_at_background_priority([&] { out = load_backends_here(n, warm); });
  return out;
}

Result<std::vector<std::unique_ptr<backends::Backend>>> Servable::load_backends_here(int n, bool warm) {
  const auto req = load_request();
  std::vector<std::unique_ptr<backends::Backend>> out;
  for (int i = 0; i < n; ++i) {
    auto backend = loader_(req);
    if (!backend.is_ok()) return backend.status();
    out.push_back(std::move(backend).value());
  }
  if (!warm) return out;
  if (config_.on_loaded) config_.on_loaded();
  if (config_.warmup_runs <= 0 || !config_.warmup_inputs || out.empty()) return out;
  // Every load of one artifact has the same signature (start_workers() relies on it).
  const auto inputs = config_.warmup_inputs(out.front()->signature());
  if (!inputs) return out;
  for (auto& backend : out) {
    for (int run = 0; run < config_.warmup_runs; ++run) {
      auto answer = guarded_infer(*backend, *inputs);
      if (!answer.is_ok())
        return Status(answer.status().code(), "warmup failed: " + answer.status().message());
    }
  }
  return out;
}

void Servable::start_workers(std::vector<std::unique_ptr<backends::Backend>> backends) {
  if (backends.empty()) return;
  // Every load of one artifact has the same signature: learn it once, never rewrite
  // it (readers hold references to it).
  if (!signature_known_.load(std::memory_order_relaxed)) {
    signature_ = backends.front()->signature();
    signature_known_.store(true, std::memory_order_release);
  }
  for (auto& backend : backends) {
    auto w = std::make_shared<Worker>();
    w->backend = std::move(backend);
    Worker* raw = w.get();
    w->thread = std::thread([this, raw] { worker_loop(raw); });
    workers_.push_back(std::move(w));
  }
  active_instances_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  publish_runners();
}

void Servable::publish_runners() { runners_.store(std::make_shared<const Runners>(workers_)); }

std::vector<std::shared_ptr<Servable::Worker>> Servable::detach_workers(size_t n) {
  n = std::min(n, workers_.size());
  const size_t keep = workers_.size() - n;
  std::vector<std::shared_ptr<Worker>> out;
  for (size_t i = keep; i < workers_.size(); ++i) {
    workers_[i]->quit.store(true, std::memory_order_release);
    out.push_back(std::move(workers_[i]));
  }
  workers_.resize(keep);
  active_instances_.store(static_cast<int>(keep), std::memory_order_relaxed);
  publish_runners();
  return out;
}


void Servable::join_retired(std::vector<std::shared_ptr<Worker>> retired) {
  if (retired.empty()) return;
  queue_.wake_all();
  for (auto& w : retired) {
    if (w->thread.joinable()) w->thread.join();
    // Claimed for good: a submitting thread holding an older snapshot can no longer
    // run it, so its backend may go now, here, rather than on that thread.
    claim(w->busy);
    w->backend.reset();
  }
}

Status Servable::make_resident() {
  {
    std::lock_guard lock(pool_mu_);
    if (stopped_) return unavailable(describe() + " is shutting down");
    if (residency_.load() == Residency::kResident) return Status::ok();
    residency_.store(Residency::kLoading);
  }
  auto backends = load_backends(config_.instances);  // slow: without the lock
  std::vector<QueuedRequest> failed;
  Status why = Status::ok();
  {
    std::lock_guard lock(pool_mu_);
    if (stopped_) {
      why = unavailable(describe() + " is shutting down");
    } else if (!backends.is_ok()) {
      why = unavailable("loading " + describe() + " on demand failed: " + backends.status().message());
    }
    if (!why.is_ok()) {
      // Under the lock, so no request queues after this drain while still `loading`.
      residency_.store(Residency::kCold);
      failed = queue_.take_all();
    } else {
      start_workers(std::move(backends).value());
      residency_.store(Residency::kResident);
    }
  }
  fail_all(std::move(failed), why);
  return why;
}

bool Servable::evict() {
  std::vector<std::shared_ptr<Worker>> retired;
  {
    std::lock_guard lock(pool_mu_);
    if (stopped_ || residency_.load() != Residency::kResident) return false;
    residency_.store(Residency::kCold);  // seq_cst: pairs with enqueue()'s in-flight count
    if (in_flight_.load() > 0) {
      residency_.store(Residency::kResident);
      return false;
    }
    retired = detach_workers(workers_.size());
  }
  // Joined without the lock: a worker may still be inside a request's callback (it
  // stops counting in flight just before), and that callback may submit again.
  join_retired(std::move(retired));
  return true;
}

Status Servable::set_instances(int n) {
  if (n < 1) return invalid_argument("instances must be at least 1");
  int have = 0;
  std::vector<std::shared_ptr<Worker>> retired;
  {
    std::lock_guard lock(pool_mu_);
    if (stopped_ || residency_.load() != Residency::kResident) return Status::ok();
    have = static_cast<int>(workers_.size());
    if (n < have) retired = detach_workers(static_cast<size_t>(have - n));
  }
  if (!retired.empty()) {
    join_retired(std::move(retired));  // lets them finish their batch first
    return Status::ok();
  }
  if (n == have) return Status::ok();
  QUIVER_ASSIGN_OR_RETURN(auto backends, load_backends(n - have));
  std::lock_guard lock(pool_mu_);
  // Evicted or stopped meanwhile: the new instances are simply dropped.
  if (!stopped_ && residency_.load() == Residency::kResident) start_workers(std::move(backends));
  return Status::ok();
}

Servable::~Servable() {
  stop();
  // Instances before the statistics they report worker restarts to (members would
  // be destroyed the other way round).
  workers_.clear();
}

std::string Servable::describe() const {
  return "model '" + config_.model + "' version " + std::to_string(config_.version);
}

void Servable::submit(std::vector<Tensor> inputs, InferDone done, std::optional<Clock::time_point> deadline) {
  enqueue(std::move(inputs), std::move(done), true, deadline);
}

bool Servable::inline_allowed() const {
  if (config_.inline_below.count() <= 0 || config_.isolation != Isolation::kInProcess ||
      config_.batching.max_batch_size > 1)
    return false;
  // Unmeasured yet (the first runs and warmup go to the workers), or too slow to hold
  // an I/O thread for.
  const int64_t avg = run_ns_avg_.load(std::memory_order_relaxed);
  return avg > 0 && avg < std::chrono::duration_cast<std::chrono::nanoseconds>(config_.inline_below).count();
}

void Servable::note_run_time(Clock::duration took) {
  // An exponential moving average (1/8 weight); racy updates only blur it.
  const int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(took).count();
  const int64_t avg = run_ns_avg_.load(std::memory_order_relaxed);
  run_ns_avg_.store(avg == 0 ? std::max<int64_t>(ns, 1) : avg + (ns - avg) / 8, std::memory_order_relaxed);
}

bool Servable::try_run_inline(QueuedRequest& request) {
  // Only a request that finds the version otherwise idle (it counted itself in flight
  // already): under concurrency the hand-off pipelines, the I/O thread parsing the next
  // request while a worker runs this one, which serves more than running it here would.
  if (!request.counted || request.unchecked || in_flight_.load() != 1 || !inline_allowed()) return false;
  const auto now = Clock::now();
  if (request.deadline && *request.deadline <= now) return false;  // the queue answers it expired
  const auto runners = runners_.load();
  if (!runners) return false;
  for (const auto& w : *runners) {
    if (w->busy.exchange(true, std::memory_order_acquire)) continue;
    if (w->quit.load(std::memory_order_acquire) || !w->backend) {
      release(w->busy);
      continue;
    }
    stats_.record_batch(request.rows.value_or(1), 1);
    const auto started = Clock::now();
    auto result = guarded_infer(*w->backend, request.inputs);
    const auto finished = Clock::now();
    release(w->busy);  // before the callback, which may submit again
    note_run_time(finished - started);
    finish(request, std::move(result), started, finished);
    return true;
  }
  return false;
}

void Servable::enqueue(std::vector<Tensor> inputs, InferDone done, bool counted,
                       std::optional<Clock::time_point> deadline) {
  const bool known = signature_known_.load(std::memory_order_acquire);
  if (Status st = check_inputs(signature(), inputs); !st.is_ok()) {
    done(st);
    return;
  }
  QueuedRequest request;
  request.enqueued = Clock::now();
  request.unchecked = !known && config_.declared.inputs.empty();
  if (counted) {
    request.deadline = deadline;
    if (config_.timeout.count() > 0) {
      const auto by_config = request.enqueued + config_.timeout;
      request.deadline = deadline ? std::min(*deadline, by_config) : by_config;
    }
  }
  request.rows = batch_rows(inputs);
  request.inputs = std::move(inputs);
  request.done = std::move(done);
  request.counted = counted;
  last_used_ns_.store(request.enqueued.time_since_epoch().count(), std::memory_order_relaxed);
  // Counted before it is visible to a worker, which may finish it at once, and before
  // the residency is read (see evict()).
  in_flight_.fetch_add(1);
  if (residency_.load() != Residency::kResident) {
    enqueue_cold(request);
    return;
  }
  if (try_run_inline(request)) return;
  push(request);
}

void Servable::enqueue_cold(QueuedRequest& request) {
  bool first = false;
  {
    std::lock_guard lock(pool_mu_);
    if (residency_.load() == Residency::kCold && !stopped_) {
      residency_.store(Residency::kLoading);
      first = true;
    }
    // Queued under the lock: a failing load drains the queue under it too, so the
    // request is either drained or served by the instances being loaded.
    push(request);
  }
  if (first) on_demand_(weak_from_this());
}

void Servable::push(QueuedRequest& request) {
  switch (queue_.push(request)) {
    case BatchQueue::PushResult::kQueued: return;
    case BatchQueue::PushResult::kClosed:
      in_flight_.fetch_sub(1);
      request.done(unavailable(describe() + " is shutting down"));
      return;
    case BatchQueue::PushResult::kFull:
      in_flight_.fetch_sub(1);
      if (request.counted) stats_.record_rejected();
      request.done(resource_exhausted(describe() + " is overloaded: " + std::to_string(config_.max_queue) +
                                      " requests queued (its max_queue); retry later"));
      return;
  }
}

void Servable::fail_all(std::vector<QueuedRequest> requests, const Status& why) {
  for (auto& r : requests) {
    if (r.counted) stats_.record_error();
    in_flight_.fetch_sub(1);
    r.done(why);
  }
}

Result<std::vector<Tensor>> Servable::infer_sync(std::vector<Tensor> inputs) {
  std::promise<Result<std::vector<Tensor>>> promise;
  auto future = promise.get_future();
  enqueue(std::move(inputs), [&promise](Result<std::vector<Tensor>> r) { promise.set_value(std::move(r)); },
          /*counted=*/false, std::nullopt);
  return future.get();
}

void Servable::worker_loop(Worker* worker) {
  backends::Backend& backend = *worker->backend;
  Batch batch;
  while (queue_.next_batch(batch, &worker->quit)) {
    for (QueuedRequest& r : batch.expired) answer_expired(r);
    if (batch.requests.empty()) continue;
    run_batch(backend, worker->busy, batch);
  }
}

// Requests queued before the signature was known are checked now, before they run.
static void check_late(Batch& batch, const ModelSignature& signature,
                       const std::function<void(QueuedRequest&, Status)>& reject) {
  std::vector<QueuedRequest> keep;
  for (auto& r : batch.requests) {
    Status st = r.unchecked ? check_inputs(signature, r.inputs) : Status::ok();
    if (st.is_ok()) {
      keep.push_back(std::move(r));
    } else {
      batch.rows -= r.rows.value_or(1);
      reject(r, st);
    }
  }
  batch.requests = std::move(keep);
}

void Servable::run_batch(backends::Backend& backend, std::atomic<bool>& busy, Batch& batch) {
  auto& requests = batch.requests;
  const auto started = Clock::now();
  bool any_unchecked = false;
  for (const auto& r : requests) any_unchecked = any_unchecked || r.unchecked;
  if (any_unchecked) {
    check_late(batch, signature(), [&](QueuedRequest& r, Status st) { finish(r, std::move(st), started, started); });
    if (requests.empty()) return;
  }
  bool any_counted = false;
  for (const auto& r : requests) any_counted = any_counted || r.counted;
  if (any_counted) stats_.record_batch(batch.rows, requests.size());

  InstanceClaim instance(busy);  // a submitting thread may be running it inline
  if (requests.size() == 1) {
    // Alone: the backend sees the request as sent and its outputs pass through as is.
    auto result = guarded_infer(backend, requests.front().inputs);
    instance.release_now();
    const auto finished = Clock::now();
    note_run_time(finished - started);
    finish(requests.front(), std::move(result), started, finished);
    return;
  }

  std::vector<const std::vector<Tensor>*> parts;
  std::vector<int64_t> rows;
  for (const auto& r : requests) {
    parts.push_back(&r.inputs);
    rows.push_back(*r.rows);
  }
  Result<std::vector<std::vector<Tensor>>> split = internal_error("no result");
  if (auto merged = concat_rows(parts); !merged.is_ok()) {
    split = internal_error("batching requests for " + describe() + ": " + merged.status().message());
  } else if (auto outputs = guarded_infer(backend, *merged); !outputs.is_ok()) {
    split = outputs.status();
  } else {
    split = split_rows(*outputs, rows);
    if (!split.is_ok()) split = split.status().with_context(describe() + " answered a batch badly");
  }
  instance.release_now();
  const auto finished = Clock::now();
  for (size_t i = 0; i < requests.size(); ++i) {
    if (split.is_ok())
      finish(requests[i], std::move(split.value()[i]), started, finished);
    else
      finish(requests[i], split.status(), started, finished);
  }
}

void Servable::finish(QueuedRequest& request, Result<std::vector<Tensor>> result, Clock::time_point started,
                      Clock::time_point finished) {
  if (!request.counted) {
    // warmup or probe: not user traffic
  } else if (result.is_ok()) {
    stats_.record_success(seconds_between(request.enqueued, started), seconds_between(started, finished),
                          seconds_between(request.enqueued, finished));
  } else {
    stats_.record_error();
  }
  // Before the callback, so a caller holding its answer never sees it still in flight.
  in_flight_.fetch_sub(1);
  request.done(std::move(result));
}

void Servable::answer_expired(QueuedRequest& request) {
  const auto now = Clock::now();
  if (request.counted) stats_.record_expired();
  in_flight_.fetch_sub(1);
  // The budget left when it was queued, rounded up: a 1 ms deadline set a fraction of a
  // millisecond before the request reached the queue still reads "1 ms", not "0 ms".
  const double budget_ms = std::chrono::duration<double, std::milli>(*request.deadline - request.enqueued).count();
  const long long shown = budget_ms > 0 ? static_cast<long long>(std::ceil(budget_ms)) : 0;
  request.done(deadline_exceeded("request waited " + std::to_string(whole_ms(now - request.enqueued)) +
                                 " ms in the queue of " + describe() + ", over its deadline of " +
                                 std::to_string(shown) + " ms"));
}

void Servable::stop() {
  std::call_once(stop_once_, [this] {
    std::vector<QueuedRequest> orphans;
    {
      std::lock_guard lock(pool_mu_);
      stopped_ = true;
      runners_.store(nullptr);  // no inline run starts now: submits answer Unavailable
      queue_.close();
      for (auto& w : workers_)
        if (w->thread.joinable()) w->thread.join();
      // With no instance (a cold on-demand version) no worker drained the queue.
      orphans = queue_.take_all();
    }
    fail_all(std::move(orphans), unavailable(describe() + " is shutting down"));
  });
}

}  // namespace quiver::serving
