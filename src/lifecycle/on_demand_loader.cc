#include "lifecycle/on_demand_loader.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "metrics/metrics_registry.h"

namespace quiver::lifecycle {
namespace {

metrics::Labels labels_of(const std::string& model, int64_t version) {
  return {{"model", model}, {"version", std::to_string(version)}};
}

}  // namespace

OnDemandLoader::OnDemandLoader(metrics::MetricsRegistry* metrics, const Clock& clock, int64_t server_budget_bytes)
    : metrics_(metrics), clock_(clock), server_budget_(server_budget_bytes) {}

OnDemandLoader::~OnDemandLoader() { stop(); }

serving::DemandHook OnDemandLoader::hook() {
  return [this](std::weak_ptr<serving::Servable> s) { demand(std::move(s)); };
}

void OnDemandLoader::track(const std::shared_ptr<serving::Servable>& servable, int64_t artifact_bytes) {
  std::lock_guard lock(mu_);
  Tracked t;
  t.servable = servable;
  t.model = servable->model();
  t.version = servable->version();
  t.artifact_bytes = std::max<int64_t>(artifact_bytes, 0);
  t.bytes = t.artifact_bytes;
  tracked_[servable.get()] = std::move(t);
}

void OnDemandLoader::forget(const serving::Servable* servable) {
  std::lock_guard lock(mu_);
  auto it = tracked_.find(servable);
  if (it == tracked_.end()) return;
  set_resident_gauge(it->second, 0);
  tracked_.erase(it);
}

void OnDemandLoader::set_model_budget(const std::string& model, int64_t bytes) {
  std::lock_guard lock(mu_);
  if (bytes > 0)
    model_budgets_[model] = bytes;
  else
    model_budgets_.erase(model);
}

void OnDemandLoader::demand(std::weak_ptr<serving::Servable> servable) {
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(servable));
  }
  cv_.notify_all();
}

void OnDemandLoader::step() {
  std::lock_guard one(step_mu_);
  // Trim first: a version loaded below must serve its first request before a
  // budget pass may consider it for eviction.
  enforce();
  for (;;) {
    std::shared_ptr<serving::Servable> next;
    {
      std::lock_guard lock(mu_);
      if (pending_.empty()) break;
      next = pending_.front().lock();
      pending_.pop_front();
    }
    if (next) load_one(next);
  }
}

void OnDemandLoader::load_one(const std::shared_ptr<serving::Servable>& servable) {
  std::string model;
  int64_t estimate = 0;
  {
    std::lock_guard lock(mu_);
    auto it = tracked_.find(servable.get());
    if (it == tracked_.end()) {
      model = servable->model();  // being retired: its waiting requests still get answers
    } else {
      model = it->second.model;
      estimate = it->second.bytes;
    }
  }
  make_room(model, estimate, servable.get());

  const int64_t rss_before = resident_set_bytes();
  const auto started = clock_.now();
  const Status st = servable->make_resident();
  const double seconds = std::chrono::duration<double>(clock_.now() - started).count();
  const int64_t grown = std::max<int64_t>(resident_set_bytes() - rss_before, 0);
  if (!st.is_ok()) {
    spdlog::error("{}", st.message());
    if (metrics_)
      metrics_->counter("quiver_model_load_failures_total", "On-demand loads that failed",
                        labels_of(servable->model(), servable->version())).inc();
    return;
  }
  std::lock_guard lock(mu_);
  auto it = tracked_.find(servable.get());
  if (it == tracked_.end()) return;
  Tracked& t = it->second;
  t.bytes = std::max({t.bytes, t.artifact_bytes, grown});
  t.resident = true;
  spdlog::info("model '{}' version {} loaded on demand in {:.3f}s ({} KiB)", t.model, t.version, seconds,
               t.bytes / 1024);
  if (metrics_) {
    metrics_->counter("quiver_model_loads_total", "On-demand loads of model versions", labels_of(t.model, t.version))
        .inc();
    metrics_
        ->histogram("quiver_cold_start_seconds", "Time to load an on-demand version for its first request",
                    labels_of(t.model, t.version))
        .observe(seconds);
  }
  set_resident_gauge(t, t.bytes);
}

void OnDemandLoader::make_room(const std::string& model, int64_t incoming, const serving::Servable* except) {
  // Snapshot what is resident, pick victims by policy, then evict without mu_ (an
  // eviction joins worker threads). A victim that became busy meanwhile refuses.
  std::vector<ResidentVersion> snapshot;
  std::vector<std::shared_ptr<serving::Servable>> handles;
  BudgetLimits limits;
  {
    std::lock_guard lock(mu_);
    limits.server_bytes = server_budget_;
    if (auto b = model_budgets_.find(model); b != model_budgets_.end()) limits.model_bytes = b->second;
    for (auto& [ptr, t] : tracked_) {
      if (ptr == except) continue;
      auto s = t.servable.lock();
      if (!s || s->residency() != serving::Residency::kResident) continue;
      snapshot.push_back({t.model, t.version, t.bytes, s->last_used_ns(), s->in_flight() > 0});
      handles.push_back(std::move(s));
    }
  }
  for (size_t i : pick_victims(snapshot, model, incoming, limits)) {
    if (!handles[i]->evict()) continue;
    std::lock_guard lock(mu_);
    auto it = tracked_.find(handles[i].get());
    if (it == tracked_.end()) continue;
    it->second.resident = false;
    record_eviction(it->second);
  }
}

void OnDemandLoader::enforce() {
  std::vector<std::string> models;
  {
    std::lock_guard lock(mu_);
    // Versions evicted or failed behind our back (never: only we evict) and stale
    // flags are refreshed from the servables themselves.
    for (auto& [ptr, t] : tracked_) {
      auto s = t.servable.lock();
      const bool now = s && s->residency() == serving::Residency::kResident;
      if (t.resident && !now) set_resident_gauge(t, 0);
      t.resident = now;
    }
    for (const auto& [model, bytes] : model_budgets_) models.push_back(model);
  }
  make_room("", 0, nullptr);  // the server's budget
  for (const auto& m : models) make_room(m, 0, nullptr);
}

void OnDemandLoader::record_eviction(const Tracked& t) {
  spdlog::info("model '{}' version {} evicted (least recently used, {} KiB)", t.model, t.version, t.bytes / 1024);
  if (metrics_)
    metrics_->counter("quiver_model_evictions_total", "On-demand versions evicted under a memory budget",
                      labels_of(t.model, t.version)).inc();
  set_resident_gauge(t, 0);
}

void OnDemandLoader::set_resident_gauge(const Tracked& t, int64_t bytes) {
  if (metrics_)
    metrics_->gauge("quiver_model_resident_bytes", "Memory an on-demand version holds while loaded (0: evicted)",
                    labels_of(t.model, t.version)).set(static_cast<double>(bytes));
}

std::vector<OnDemandLoader::Resident> OnDemandLoader::resident() const {
  std::lock_guard lock(mu_);
  std::vector<Resident> out;
  for (const auto& [ptr, t] : tracked_) {
    auto s = t.servable.lock();
    if (s && s->residency() == serving::Residency::kResident) out.push_back({t.model, t.version, t.bytes});
  }
  return out;
}

int64_t OnDemandLoader::resident_bytes() const {
  int64_t total = 0;
  for (const auto& r : resident()) total += r.bytes;
  return total;
}

void OnDemandLoader::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void OnDemandLoader::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
    }
    step();
  }
}

void OnDemandLoader::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace quiver::lifecycle
