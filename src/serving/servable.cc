#include "serving/servable.h"

#include <future>

namespace quiver::serving {

using Clock = std::chrono::steady_clock;

static double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

Servable::Servable(ServableConfig config, metrics::MetricsRegistry* metrics)
    : config_(std::move(config)), stats_(metrics, config_.model, config_.version) {}

Result<std::shared_ptr<Servable>> Servable::load(const ServableConfig& config, const BackendLoader& loader,
                                                 metrics::MetricsRegistry* metrics) {
  if (config.instances < 1) return invalid_argument("instances must be at least 1");
  std::shared_ptr<Servable> s(new Servable(config, metrics));
  backends::LoadRequest req{config.framework, config.artifact_path, config.declared, config.intra_op_threads};
  for (int i = 0; i < config.instances; ++i) {
    auto backend = loader(req);
    if (!backend.is_ok()) return backend.status();
    s->instances_.push_back(std::move(backend).value());
  }
  s->signature_ = s->instances_.front()->signature();
  for (size_t i = 0; i < s->instances_.size(); ++i) s->workers_.emplace_back([raw = s.get(), i] { raw->worker_loop(i); });
  return s;
}

Servable::~Servable() { stop(); }

void Servable::submit(std::vector<Tensor> inputs, InferDone done) {
  enqueue(std::move(inputs), std::move(done), true);
}

void Servable::enqueue(std::vector<Tensor> inputs, InferDone done, bool counted) {
  if (Status st = check_inputs(signature_, inputs); !st.is_ok()) {
    done(st);
    return;
  }
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      done(unavailable("model '" + config_.model + "' version " + std::to_string(config_.version) +
                       " is shutting down"));
      return;
    }
    if (queue_.size() >= config_.max_queue) {
      done(resource_exhausted("model '" + config_.model + "' version " + std::to_string(config_.version) +
                              " is overloaded: " + std::to_string(queue_.size()) + " requests queued"));
      return;
    }
    in_flight_.fetch_add(1);
    queue_.push_back(Work{std::move(inputs), std::move(done), Clock::now(), counted});
  }
  cv_.notify_one();
}

Result<std::vector<Tensor>> Servable::infer_sync(std::vector<Tensor> inputs) {
  std::promise<Result<std::vector<Tensor>>> promise;
  auto future = promise.get_future();
  enqueue(std::move(inputs), [&promise](Result<std::vector<Tensor>> r) { promise.set_value(std::move(r)); },
          /*counted=*/false);
  return future.get();
}

void Servable::worker_loop(size_t instance) {
  backends::Backend& backend = *instances_[instance];
  for (;;) {
    Work work;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      // Drain before exiting: queued requests were accepted and must be answered.
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto started = Clock::now();
    Result<std::vector<Tensor>> result = internal_error("no result");
    try {
      result = backend.infer(work.inputs);
    } catch (const std::exception& e) {
      result = internal_error(std::string("model raised: ") + e.what());
    }
    const auto finished = Clock::now();
    if (!work.counted) {
      // warmup or probe: not user traffic
    } else if (result.is_ok()) {
      stats_.record_success(seconds_between(work.enqueued, started), seconds_between(started, finished),
                            seconds_between(work.enqueued, finished));
    } else {
      stats_.record_error();
    }
    work.done(std::move(result));
    in_flight_.fetch_sub(1);
  }
}

void Servable::stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_)
      if (t.joinable()) t.join();
  });
}

}  // namespace quiver::serving
