#include "serving/servable.h"

#include <cmath>
#include <future>

#include "serving/batching.h"

namespace quiver::serving {

using Clock = SteadyClock;

static double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

static long long whole_ms(Clock::duration d) {
  return std::llround(std::chrono::duration<double, std::milli>(d).count());
}

Servable::Servable(ServableConfig config, metrics::MetricsRegistry* metrics)
    : config_(std::move(config)),
      stats_(metrics, config_.model, config_.version),
      queue_(config_.max_queue, config_.batching) {}

Result<std::shared_ptr<Servable>> Servable::load(const ServableConfig& config, const BackendLoader& loader,
                                                 metrics::MetricsRegistry* metrics) {
  if (config.instances < 1) return invalid_argument("instances must be at least 1");
  if (config.batching.max_batch_size < 1) return invalid_argument("batching.max_batch_size must be at least 1");
  if (config.batching.max_queue_delay_us < 0) return invalid_argument("batching.max_queue_delay_us must be >= 0");
  std::shared_ptr<Servable> s(new Servable(config, metrics));
  backends::LoadRequest req{config.framework, config.artifact_path, config.declared, config.intra_op_threads};
  req.isolated = config.isolation == Isolation::kProcess;
  req.memory_limit_mb = config.memory_limit_mb;
  req.label = s->describe();
  if (req.isolated) {
    req.worker_timeout_ms = config.worker_timeout.count();
    // The instances (and their monitor threads, which call this) are destroyed before
    // stats_: see ~Servable.
    req.on_worker_restart = [stats = &s->stats_](const std::string& reason) { stats->record_worker_restart(reason); };
  }
  for (int i = 0; i < config.instances; ++i) {
    auto backend = loader(req);
    if (!backend.is_ok()) return backend.status();
    s->instances_.push_back(std::move(backend).value());
  }
  s->signature_ = s->instances_.front()->signature();
  for (size_t i = 0; i < s->instances_.size(); ++i) s->workers_.emplace_back([raw = s.get(), i] { raw->worker_loop(i); });
  return s;
}

Servable::~Servable() {
  stop();
  // Instances before the statistics they report worker restarts to (members would
  // be destroyed the other way round).
  instances_.clear();
}

std::string Servable::describe() const {
  return "model '" + config_.model + "' version " + std::to_string(config_.version);
}

void Servable::submit(std::vector<Tensor> inputs, InferDone done, std::optional<Clock::time_point> deadline) {
  enqueue(std::move(inputs), std::move(done), true, deadline);
}

void Servable::enqueue(std::vector<Tensor> inputs, InferDone done, bool counted,
                       std::optional<Clock::time_point> deadline) {
  if (Status st = check_inputs(signature_, inputs); !st.is_ok()) {
    done(st);
    return;
  }
  QueuedRequest request;
  request.enqueued = Clock::now();
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
  // Counted before it is visible to a worker, which may finish it at once.
  in_flight_.fetch_add(1);
  switch (queue_.push(request)) {
    case BatchQueue::PushResult::kQueued: return;
    case BatchQueue::PushResult::kClosed:
      in_flight_.fetch_sub(1);
      request.done(unavailable(describe() + " is shutting down"));
      return;
    case BatchQueue::PushResult::kFull:
      in_flight_.fetch_sub(1);
      if (counted) stats_.record_rejected();
      request.done(resource_exhausted(describe() + " is overloaded: " + std::to_string(config_.max_queue) +
                                      " requests queued (its max_queue); retry later"));
      return;
  }
}

Result<std::vector<Tensor>> Servable::infer_sync(std::vector<Tensor> inputs) {
  std::promise<Result<std::vector<Tensor>>> promise;
  auto future = promise.get_future();
  enqueue(std::move(inputs), [&promise](Result<std::vector<Tensor>> r) { promise.set_value(std::move(r)); },
          /*counted=*/false, std::nullopt);
  return future.get();
}

void Servable::worker_loop(size_t instance) {
  backends::Backend& backend = *instances_[instance];
  Batch batch;
  while (queue_.next_batch(batch)) {
    for (QueuedRequest& r : batch.expired) answer_expired(r);
    if (!batch.requests.empty()) run_batch(backend, batch);
  }
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

void Servable::run_batch(backends::Backend& backend, Batch& batch) {
  auto& requests = batch.requests;
  const auto started = Clock::now();
  bool any_counted = false;
  for (const auto& r : requests) any_counted = any_counted || r.counted;
  if (any_counted) stats_.record_batch(batch.rows, requests.size());

  if (requests.size() == 1) {
    // Alone: the backend sees the request as sent and its outputs pass through as is.
    auto result = guarded_infer(backend, requests.front().inputs);
    finish(requests.front(), std::move(result), started, Clock::now());
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
  request.done(deadline_exceeded("request waited " + std::to_string(whole_ms(now - request.enqueued)) +
                                 " ms in the queue of " + describe() + ", over its deadline of " +
                                 std::to_string(whole_ms(*request.deadline - request.enqueued)) + " ms"));
}

void Servable::stop() {
  std::call_once(stop_once_, [this] {
    queue_.close();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
  });
}

}  // namespace quiver::serving
