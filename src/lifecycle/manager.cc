#include "lifecycle/manager.h"

#include <spdlog/spdlog.h>

#include <future>
#include <set>

#include "lifecycle/servable_config.h"
#include "lifecycle/warmup.h"
#include "metrics/metrics_registry.h"
#include "registry/deployment_spec_json.h"

#include <nlohmann/json.hpp>

namespace quiver::lifecycle {
namespace {

const registry::Actor kActor{"lifecycle-manager", ""};

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

LifecycleManager::Key LifecycleManager::key_of(const std::string& model, const DeployedVersion& dv) {
  std::string k = std::to_string(dv.instances) + "/" + std::to_string(dv.batching.max_batch_size) + "/" +
                  std::to_string(dv.batching.max_queue_delay_us) + "/";
  for (int p : dv.batching.preferred_batch_sizes) k += std::to_string(p) + ",";
  k += "/" + std::to_string(dv.max_queue) + "/" + std::to_string(dv.timeout_ms) + "/" +
       (dv.isolation == Isolation::kProcess ? "process" : "in_process") + "/" + std::to_string(dv.memory_limit_mb) +
       "/" + std::to_string(dv.worker_timeout_ms) + "/" + std::to_string(dv.max_instances) +
       (dv.load == LoadPolicy::kOnDemand ? "/on_demand" : "/eager");
  return {model, dv.version.version, k};
}

LifecycleManager::LifecycleManager(registry::Registry& registry, store::BlobStore& blobs,
                                   routing::RoutePublisher& routes, metrics::MetricsRegistry* metrics,
                                   const Clock& clock, ManagerOptions options, serving::BackendLoader loader,
                                   WarmupDecoder warmup_decoder)
    : registry_(registry),
      blobs_(blobs),
      routes_(routes),
      metrics_(metrics),
      clock_(clock),
      options_(options),
      loader_(std::move(loader)),
      warmup_decoder_(std::move(warmup_decoder)),
      on_demand_(metrics, clock, options.memory_budget_bytes),
      autoscaler_(options.autoscaler) {}

LifecycleManager::~LifecycleManager() { stop(); }

std::map<std::string, LifecycleManager::Desired> LifecycleManager::read_desired() {
  std::map<std::string, Desired> out;
  auto revisions = registry_.live_deployments();
  if (!revisions.is_ok()) {
    spdlog::error("reading deployments: {}", revisions.status().to_string());
    read_ok_ = false;
    std::lock_guard lock(mu_);
    return desired_;  // keep what we had rather than unloading everything
  }
  read_ok_ = true;
  for (const auto& rev : *revisions) {
    Desired d;
    d.revision = rev.revision;
    auto spec = registry::parse_deployment_spec(rev.spec_json);
    if (spec.is_ok()) {
      d.spec = std::move(spec).value();
    } else {
      d.parse_error = spec.status().message();
    }
    out.emplace(rev.model, std::move(d));
  }
  return out;
}

void LifecycleManager::reconcile_once() {
  std::lock_guard pass(reconcile_mu_);
  // Read after taking note of the revision: everything up to it is then in the read.
  const int64_t seen = seen_revision_.load();
  auto desired = read_desired();
  if (read_ok_) applied_revision_ = std::max(applied_revision_.load(), seen);
  {
    std::lock_guard lock(mu_);
    desired_ = desired;
  }
  for (const auto& [model, d] : desired) on_demand_.set_model_budget(model, d.spec.memory_budget_bytes);
  // Publish first so a version that just became unwanted stops taking traffic now,
  // and so status shows loading versions while they load.
  publish(desired);
  for (const auto& [model, d] : desired)
    for (const auto& dv : d.spec.versions) ensure_loaded(model, dv, d.revision);
  load_fallbacks(desired);
  publish(desired);
  retire_unwanted(desired);
  if (check_health(desired)) publish(desired);
  autoscale(desired);
  on_demand_.step();  // loads nothing unless a first request waits; enforces the budgets
}

void LifecycleManager::autoscale(const std::map<std::string, Desired>& desired) {
  struct Change {
    std::shared_ptr<serving::Servable> servable;
    int instances;
  };
  std::vector<Change> changes;
  const auto now = clock_.now();
  {
    std::lock_guard lock(mu_);
    for (const auto& [model, d] : desired)
      for (const auto& dv : d.spec.versions) {
        if (dv.max_instances <= 0) continue;
        auto it = entries_.find(key_of(model, dv));
        if (it == entries_.end() || it->second.machine.state() != VersionState::kReady || !it->second.servable) continue;
        auto& servable = it->second.servable;
        // A cold on-demand version has no instances to scale; it loads `min`.
        if (servable->residency() != serving::Residency::kResident) continue;
        const ScaleInput in{servable->instances(), dv.instances, dv.max_instances, servable->in_flight()};
        const int wanted = autoscaler_.step({model, dv.version.version}, in, now);
        if (wanted != in.current) changes.push_back({servable, wanted});
      }
  }
  for (auto& c : changes) {  // without mu_: growing loads backends
    const int before = c.servable->instances();
    if (Status st = c.servable->set_instances(c.instances); !st.is_ok()) {
      spdlog::error("model '{}' version {}: scaling to {} instances: {}", c.servable->model(), c.servable->version(),
                    c.instances, st.message());
      continue;
    }
    spdlog::info("model '{}' version {} scaled from {} to {} instance(s)", c.servable->model(), c.servable->version(),
                 before, c.servable->instances());
    if (metrics_)
      metrics_->gauge("quiver_instances", "Instances a version runs now (the autoscaler moves it)",
                      {{"model", c.servable->model()}, {"version", std::to_string(c.servable->version())}})
          .set(c.servable->instances());
  }
}

std::optional<LifecycleManager::Desired> LifecycleManager::last_served(const std::string& model,
                                                                      int64_t before_revision) {
  auto entries = registry_.audit(model, 1000);
  if (!entries.is_ok()) return std::nullopt;
  for (const auto& e : *entries) {
    if (e.action != "deployment.serving") continue;
    const auto detail = nlohmann::json::parse(e.detail_json, nullptr, false);
    const int64_t revision = detail.is_object() ? detail.value("revision", int64_t{0}) : 0;
    if (revision <= 0 || revision >= before_revision) continue;
    auto rev = registry_.get_revision(model, revision);
    if (!rev.is_ok() || rev->deleted) return std::nullopt;
    auto spec = registry::parse_deployment_spec(rev->spec_json);
    if (!spec.is_ok()) return std::nullopt;
    return Desired{revision, std::move(spec).value(), ""};
  }
  return std::nullopt;
}

void LifecycleManager::load_fallbacks(const std::map<std::string, Desired>& desired) {
  std::vector<std::pair<std::string, int64_t>> needed;  // model, failing revision
  {
    std::lock_guard lock(mu_);
    for (auto it = fallback_.begin(); it != fallback_.end();)
      it = desired.count(it->first) ? std::next(it) : fallback_.erase(it);
    for (const auto& [model, d] : desired) {
      if (published_.count(model) || fallback_.count(model)) continue;  // something serves, or is chosen
      bool failed = !d.parse_error.empty();
      for (const auto& dv : d.spec.versions) {
        auto it = entries_.find(key_of(model, dv));
        failed = failed || (it != entries_.end() && it->second.machine.state() == VersionState::kFailed);
      }
      if (failed) needed.emplace_back(model, d.revision);
    }
  }
  for (const auto& [model, revision] : needed) {
    auto fallback = last_served(model, revision);
    if (!fallback) continue;
    spdlog::warn("model '{}': revision {} failed; serving revision {} again, as before the restart", model, revision,
                 fallback->revision);
    for (const auto& dv : fallback->spec.versions) ensure_loaded(model, dv, fallback->revision);
    std::lock_guard lock(mu_);
    fallback_[model] = std::move(*fallback);
  }
}

bool LifecycleManager::check_health(const std::map<std::string, Desired>& desired) {
  // Pick what to probe under the lock, probe without it (a probe runs the model).
  struct Probe {
    Key key;
    std::shared_ptr<serving::Servable> servable;
    std::vector<Tensor> inputs;
    HealthConfig config;
  };
  std::vector<Probe> probes;
  bool changed = false;
  const auto now = clock_.now();
  {
    std::lock_guard lock(mu_);
    for (const auto& [model, d] : desired)
      for (const auto& dv : d.spec.versions) {
        auto it = entries_.find(key_of(model, dv));
        if (it == entries_.end() || it->second.machine.state() != VersionState::kReady) continue;
        Entry& e = it->second;
        const auto& stats = e.servable->stats();
        const auto event = e.health.on_traffic(stats.requests(), stats.errors(), d.spec.health, now);
        if (event == HealthEvent::kEjected) {
          changed = true;
          spdlog::warn("model '{}' version {} ejected: {}", model, dv.version.version, e.health.reason());
          audit(model, "version.ejected",
                "{\"version\":" + std::to_string(dv.version.version) + ",\"reason\":" + json_quote(e.health.reason()) +
                    "}");
          if (metrics_)
            metrics_->counter("quiver_ejections_total", "Versions ejected from routing by health checks",
                              {{"model", model}, {"version", std::to_string(dv.version.version)}}).inc();
        }
        if (e.probe_inputs && e.health.probe_due(now, d.spec.health))
          probes.push_back({it->first, e.servable, *e.probe_inputs, d.spec.health});
      }
  }
  for (auto& p : probes) {
    // Bounded wait: a hung model counts as a failed probe instead of stalling the loop.
    auto promise = std::make_shared<std::promise<Result<std::vector<Tensor>>>>();
    auto future = promise->get_future();
    p.servable->probe(std::move(p.inputs), [promise](Result<std::vector<Tensor>> r) { promise->set_value(std::move(r)); });
    const auto timeout = std::chrono::milliseconds(std::max<int64_t>(p.config.probe_interval_ms, 1000));
    Status result = future.wait_for(timeout) == std::future_status::ready
                        ? future.get().status()
                        : deadline_exceeded("probe took longer than " + std::to_string(timeout.count()) + " ms");
    std::lock_guard lock(mu_);
    auto it = entries_.find(p.key);
    if (it == entries_.end()) continue;
    const auto& model = std::get<0>(p.key);
    const auto version = std::get<1>(p.key);
    const auto event = it->second.health.on_probe(result.is_ok(), result.message(), p.config, clock_.now());
    if (event == HealthEvent::kNone) continue;
    changed = true;
    const bool ejected = event == HealthEvent::kEjected;
    spdlog::warn("model '{}' version {} {}{}", model, version, ejected ? "ejected: " : "re-admitted",
                 ejected ? it->second.health.reason() : "");
    audit(model, ejected ? "version.ejected" : "version.readmitted",
          "{\"version\":" + std::to_string(version) +
              (ejected ? ",\"reason\":" + json_quote(it->second.health.reason()) : std::string()) + "}");
    if (metrics_)
      metrics_->counter(ejected ? "quiver_ejections_total" : "quiver_readmissions_total",
                        ejected ? "Versions ejected from routing by health checks"
                                : "Ejected versions re-admitted after recovering",
                        {{"model", model}, {"version", std::to_string(version)}}).inc();
  }
  return changed;
}

std::set<int64_t> LifecycleManager::ejected_versions(const std::string& model, const Desired& d) const {
  std::set<int64_t> out;
  for (const auto& dv : d.spec.versions) {
    auto it = entries_.find(key_of(model, dv));
    if (it != entries_.end() && it->second.health.ejected()) out.insert(dv.version.version);
  }
  return out;
}

std::chrono::milliseconds LifecycleManager::loop_interval() const {
  std::lock_guard lock(mu_);
  auto interval = options_.interval;
  for (const auto& [model, d] : desired_) {
    interval = std::min(interval, std::chrono::milliseconds(d.spec.health.probe_interval_ms));
    // The autoscaler samples queue depth each pass: often enough to see a burst.
    for (const auto& dv : d.spec.versions)
      if (dv.max_instances > 0) interval = std::min(interval, std::chrono::milliseconds(250));
  }
  return interval;
}

void LifecycleManager::ensure_loaded(const std::string& model, const DeployedVersion& dv, int64_t revision) {
  const Key key = key_of(model, dv);
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      const auto state = it->second.machine.state();
      if (state == VersionState::kDraining) {
        (void)it->second.machine.revive();  // still loaded and warm: take it back
        return;
      }
      if (state != VersionState::kFailed && state != VersionState::kUnloaded) return;
      if (state == VersionState::kFailed && it->second.requested_by_revision >= revision) return;
      entries_.erase(it);  // retry a failure for a newer revision
    }
    Entry e;
    e.requested_by_revision = revision;
    entries_.emplace(key, std::move(e));
  }

  VersionStateMachine machine;
  const auto started = clock_.now();
  Result<std::shared_ptr<serving::Servable>> servable = internal_error("not loaded");
  auto record = registry_.get_version(model, dv.version.version);
  if (!record.is_ok()) {
    servable = record.status();
  } else {
    servable = dv.load == LoadPolicy::kOnDemand ? defer_servable(*record, dv, machine)
                                                : load_servable(*record, dv, machine);
  }
  const double seconds = std::chrono::duration<double>(clock_.now() - started).count();

  std::lock_guard lock(mu_);
  Entry& e = entries_[key];
  if (servable.is_ok()) {
    e.machine = machine;
    e.servable = std::move(servable).value();
    e.load_seconds = seconds;
    e.probe_inputs = std::move(pending_probe_inputs_);
    pending_probe_inputs_.reset();
    e.metadata = record->metadata;
    if (e.servable->on_demand()) {
      on_demand_.track(e.servable, static_cast<int64_t>(record->size));
      spdlog::info("model '{}' version {} ready to load on demand", model, dv.version.version);
    } else {
      spdlog::info("model '{}' version {} ready in {:.3f}s ({} instance(s))", model, dv.version.version, seconds,
                   dv.instances);
    }
    if (metrics_ && dv.max_instances > 0)
      metrics_->gauge("quiver_instances", "Instances a version runs now (the autoscaler moves it)",
                      {{"model", model}, {"version", std::to_string(dv.version.version)}})
          .set(e.servable->instances());
  } else {
    if (machine.state() != VersionState::kFailed) (void)machine.fail(servable.status().message());
    e.machine = machine;
    spdlog::error("model '{}' version {} failed to load: {}", model, dv.version.version,
                  servable.status().message());
    audit(model, "version.load_failed",
          "{\"version\":" + std::to_string(dv.version.version) + ",\"error\":" +
              json_quote(servable.status().message()) + "}");
  }
}

Status LifecycleManager::ensure_artifact(const std::string& sha256) {
  if (blobs_.exists(sha256) || !options_.fetch_artifact) return Status::ok();
  // Registered through another replica: bring the durable copy (hash-checked on arrival).
  const auto started = clock_.now();
  QUIVER_RETURN_IF_ERROR(options_.fetch_artifact(sha256).with_context("fetching artifact " + sha256));
  spdlog::info("fetched artifact {} from the shared store in {:.0f} ms", sha256,
               std::chrono::duration<double, std::milli>(clock_.now() - started).count());
  return Status::ok();
}

Result<std::shared_ptr<serving::Servable>> LifecycleManager::defer_servable(const registry::VersionRecord& record,
                                                                             const DeployedVersion& dv,
                                                                             VersionStateMachine& machine) {
  // Refuse now what a load would refuse later, so the deployment fails visibly
  // instead of its first request.
  QUIVER_RETURN_IF_ERROR(ensure_artifact(record.artifact_sha256));
  QUIVER_RETURN_IF_ERROR(blobs_.verify(record.artifact_sha256));
  if (options_.verify_before_load) QUIVER_RETURN_IF_ERROR(options_.verify_before_load(record));
  QUIVER_ASSIGN_OR_RETURN(auto path, blobs_.path_of(record.artifact_sha256));
  serving::ServableConfig config = servable_config(record, path, dv, options_.intra_op_threads);
  config.inline_below = options_.inline_below;
  QUIVER_ASSIGN_OR_RETURN(auto servable, serving::Servable::deferred(config, loader_, metrics_, on_demand_.hook()));
  // No warmup and no probes: either would load it. Its first request warms it.
  QUIVER_RETURN_IF_ERROR(machine.start_warming());
  QUIVER_RETURN_IF_ERROR(machine.become_ready());
  pending_probe_inputs_.reset();
  return servable;
}

Result<std::shared_ptr<serving::Servable>> LifecycleManager::load_servable(const registry::VersionRecord& record,
                                                                            const DeployedVersion& dv,
                                                                            VersionStateMachine& machine) {
  // Never load from bytes that no longer match their name, nor a version the
  // signature policy refuses (it may have been turned on after registration).
  QUIVER_RETURN_IF_ERROR(ensure_artifact(record.artifact_sha256));
  QUIVER_RETURN_IF_ERROR(blobs_.verify(record.artifact_sha256));
  if (options_.verify_before_load) QUIVER_RETURN_IF_ERROR(options_.verify_before_load(record));
  QUIVER_ASSIGN_OR_RETURN(auto path, blobs_.path_of(record.artifact_sha256));
  serving::ServableConfig config = servable_config(record, path, dv, options_.intra_op_threads);
  config.inline_below = options_.inline_below;

  // The registered warmup request, else inputs made from the signature. Each instance
  // runs them while it loads, at the loader's lower priority (serving/servable.h).
  std::optional<std::vector<Tensor>> decoded;
  if (!record.warmup_json.empty() && warmup_decoder_) {
    QUIVER_ASSIGN_OR_RETURN(auto d, warmup_decoder_(record.warmup_json));
    decoded = std::move(d);
  }
  config.warmup_runs = options_.warmup_runs;
  config.warmup_inputs = [decoded](const ModelSignature& signature) {
    return decoded ? decoded : synthetic_warmup_inputs(signature);
  };
  config.on_loaded = [&machine] { (void)machine.start_warming(); };
  QUIVER_ASSIGN_OR_RETURN(auto servable, serving::Servable::load(config, loader_, metrics_));
  if (machine.state() == VersionState::kLoading) QUIVER_RETURN_IF_ERROR(machine.start_warming());
  QUIVER_RETURN_IF_ERROR(machine.become_ready());
  pending_probe_inputs_ = config.warmup_inputs(servable->signature());
  return servable;
}

void LifecycleManager::publish(const std::map<std::string, Desired>& desired) {
  auto models = registry_.list_models();
  auto table = std::make_shared<routing::RouteTable>();
  std::lock_guard lock(mu_);
  if (models.is_ok()) {
    for (const auto& m : *models) {
      auto& entry = table->models[m.name];
      entry.registered.insert(m.versions.begin(), m.versions.end());
      for (const auto& [alias, v] : m.aliases) entry.aliases.emplace(alias, v);
    }
  } else {
    // Keep the registered view we published last time.
    for (const auto& [name, entry] : routes_.load()->models) table->models[name] = entry;
  }

  for (auto it = published_.begin(); it != published_.end();)
    it = desired.count(it->first) ? std::next(it) : published_.erase(it);
  bool held = false;

  for (const auto& [model, d] : desired) {
    if (!d.parse_error.empty()) continue;
    std::vector<routing::Endpoint> endpoints;
    bool all_ready = true;
    for (const auto& dv : d.spec.versions) {
      auto it = entries_.find(key_of(model, dv));
      if (it == entries_.end() || it->second.machine.state() != VersionState::kReady) {
        all_ready = false;
        table->models[model].pending.insert(dv.version.version);
        continue;
      }
      endpoints.push_back({dv.version.version, it->second.servable});
      endpoints.back().task =
          prediction_task_from_metadata(it->second.metadata, d.spec.quality.value_or(PredictionTask{}));
    }
    auto current = published_.find(model);
    if (all_ready && options_.cluster_ready &&
        (current == published_.end() || current->second->revision() != d.revision)) {
      std::vector<int64_t> versions;
      for (const auto& dv : d.spec.versions) versions.push_back(dv.version.version);
      if (!options_.cluster_ready(model, versions)) {
        all_ready = false;  // the previous revision (if any) serves on meanwhile
        held = true;
      }
    }
    auto ejected = ejected_versions(model, d);
    const auto ov = overrides_.find(model);
    const bool overridden = ov != overrides_.end() && ov->second.revision == d.revision;
    const uint64_t generation = overridden ? ov->second.generation : 0;
    const bool up_to_date = current != published_.end() && current->second->revision() == d.revision &&
                            current->second->ejected() == ejected && published_generation_[model] == generation;
    // While the desired revision cannot serve, the fallback revision does (if any).
    const Desired* serving = &d;
    if (all_ready) {
      fallback_.erase(model);
    } else if (auto fb = fallback_.find(model); fb != fallback_.end() && !published_.count(model)) {
      std::vector<routing::Endpoint> fb_endpoints;
      for (const auto& dv : fb->second.spec.versions) {
        auto it = entries_.find(key_of(model, dv));
        if (it == entries_.end() || it->second.machine.state() != VersionState::kReady) break;
        fb_endpoints.push_back({dv.version.version, it->second.servable});
        fb_endpoints.back().task = prediction_task_from_metadata(it->second.metadata,
                                                                 fb->second.spec.quality.value_or(PredictionTask{}));
      }
      if (fb_endpoints.size() == fb->second.spec.versions.size()) {
        serving = &fb->second;
        endpoints = std::move(fb_endpoints);
        all_ready = true;
        ejected = ejected_versions(model, fb->second);
      }
    }
    if (all_ready && !up_to_date) {
      const int64_t before = current != published_.end() ? current->second->revision() : 0;
      DeploymentSpec spec = serving->spec;
      if (overridden) spec.traffic = ov->second.traffic;
      auto route =
          routing::ModelRoute::build(model, serving->revision, std::move(spec), std::move(endpoints), std::move(ejected));
      if (route.is_ok()) {
        published_generation_[model] = generation;
        published_[model] = std::move(route).value();
        if (!overridden && serving->revision != before) {
          spdlog::info("model '{}' now serves revision {}", model, serving->revision);
          // What served last is what a restart falls back to if its newest revision fails.
          audit(model, "deployment.serving", "{\"revision\":" + std::to_string(serving->revision) + "}");
        }
      } else {
        spdlog::error("model '{}' revision {}: {}", model, d.revision, route.status().message());
      }
    }
  }
  for (const auto& [model, route] : published_) table->models[model].route = route;
  routes_.publish(std::move(table));
  held_for_cluster_ = held;

  for (const auto& [model, d] : desired) {
    bool failed = !d.parse_error.empty();
    for (const auto& dv : d.spec.versions) {
      auto it = entries_.find(key_of(model, dv));
      failed = failed || (it != entries_.end() && it->second.machine.state() == VersionState::kFailed);
    }
    if (failed && failure_reported_[model] != d.revision) {
      failure_reported_[model] = d.revision;
      audit(model, "deployment.failed",
            "{\"revision\":" + std::to_string(d.revision) + ",\"error\":" + json_quote(build_status(model, d).message) +
                "}");
    }
  }
}

bool LifecycleManager::in_published_route(const Key& key) const {
  auto it = published_.find(std::get<0>(key));
  if (it == published_.end()) return false;
  for (const auto& dv : it->second->spec().versions)
    if (key_of(std::get<0>(key), dv) == key) return true;
  return false;
}

void LifecycleManager::retire_unwanted(const std::map<std::string, Desired>& desired) {
  std::vector<std::shared_ptr<serving::Servable>> to_stop;
  {
    std::lock_guard lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      const auto& [model, version, config] = it->first;
      bool wanted = false;
      if (auto d = desired.find(model); d != desired.end())
        for (const auto& dv : d->second.spec.versions) wanted = wanted || key_of(model, dv) == it->first;
      Entry& e = it->second;
      if (wanted || in_published_route(it->first)) {
        ++it;
        continue;
      }
      if (e.machine.state() == VersionState::kReady) (void)e.machine.start_draining();
      // Draining ends when no route snapshot or request holds the servable any more.
      const bool drained = !e.servable || (e.servable.use_count() == 1 && e.servable->in_flight() == 0);
      if ((e.machine.state() == VersionState::kDraining && drained) || e.machine.state() == VersionState::kFailed) {
        (void)e.machine.unload();
        autoscaler_.forget({model, version});
        if (e.servable) {
          on_demand_.forget(e.servable.get());
          to_stop.push_back(std::move(e.servable));
        }
        spdlog::info("model '{}' version {} unloaded", model, version);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : to_stop) s->stop();  // outside the lock: joins worker threads
}

DeploymentStatus LifecycleManager::build_status(const std::string& model, const Desired& d) const {
  DeploymentStatus st;
  st.model = model;
  st.revision = d.revision;
  auto pub = published_.find(model);
  const routing::ModelRoute* route = pub == published_.end() ? nullptr : pub->second.get();
  st.serving_revision = route ? route->revision() : 0;

  // Observed shares count requests routed since this route went live.
  uint64_t routed_total = 0;
  std::map<int64_t, uint64_t> routed;
  if (route)
    for (const auto& e : route->endpoints()) {
      routed[e.version] = e.servable->stats().routed() - e.routed_baseline;
      routed_total += routed[e.version];
    }

  bool any_failed = !d.parse_error.empty();
  bool all_ready = d.parse_error.empty();
  std::string failures = d.parse_error;
  for (const auto& dv : d.spec.versions) {
    VersionStatus vs;
    vs.version = dv.version.version;
    vs.instances = dv.instances;
    auto it = entries_.find(key_of(model, dv));
    vs.state = it == entries_.end() ? "pending" : std::string(version_state_name(it->second.machine.state()));
    if (it != entries_.end()) {
      const Entry& e = it->second;
      vs.error = e.machine.reason();
      vs.load_seconds = e.load_seconds;
      vs.ejected = e.health.ejected();
      vs.ejected_reason = e.health.reason();
      if (e.machine.state() == VersionState::kReady && e.servable) {
        vs.ready_instances = e.servable->instances();  // 0 while an on-demand version is cold
        const auto& stats = e.servable->stats();
        vs.requests = stats.requests();
        vs.errors = stats.errors();
        vs.rps = stats.recent_rps();
        vs.p50_ms = stats.latency_quantile(0.5) * 1e3;
        vs.p99_ms = stats.latency_quantile(0.99) * 1e3;
        vs.worker_restarts = stats.worker_restarts();
        if (routed_total > 0 && routed.count(vs.version))
          vs.observed_share = static_cast<double>(routed[vs.version]) / static_cast<double>(routed_total);
      }
      if (e.machine.state() == VersionState::kFailed) {
        any_failed = true;
        failures += (failures.empty() ? "" : "; ") + std::string("version ") + std::to_string(vs.version) + ": " +
                    e.machine.reason();
      }
    }
    if (vs.state != "ready") all_ready = false;
    if (route && route->revision() == d.revision) vs.traffic_share = route->configured_share(vs.version);
    st.versions.push_back(std::move(vs));
  }
  if (any_failed) {
    st.state = "failed";
    st.message = failures;
    if (route && route->revision() != d.revision)
      st.message += " (revision " + std::to_string(route->revision()) + " keeps serving)";
  } else if (all_ready && route && route->revision() == d.revision) {
    st.state = "ready";
  } else {
    st.state = "progressing";
    st.message = "loading versions of revision " + std::to_string(d.revision);
  }
  return st;
}

std::optional<DeploymentStatus> LifecycleManager::status(const std::string& model) const {
  std::lock_guard lock(mu_);
  auto it = desired_.find(model);
  if (it == desired_.end()) return std::nullopt;
  return build_status(model, it->second);
}

std::vector<DeploymentStatus> LifecycleManager::all_status() const {
  std::lock_guard lock(mu_);
  std::vector<DeploymentStatus> out;
  for (const auto& [model, d] : desired_) out.push_back(build_status(model, d));
  return out;
}

bool LifecycleManager::ready() const {
  std::lock_guard lock(mu_);
  for (const auto& [model, d] : desired_)
    if (!published_.count(model)) return false;
  return true;
}

void LifecycleManager::set_traffic_override(const std::string& model, int64_t revision,
                                            std::vector<TrafficWeight> traffic) {
  {
    std::lock_guard lock(mu_);
    auto& ov = overrides_[model];
    if (ov.revision == revision && ov.traffic == traffic) return;
    ov.revision = revision;
    ov.traffic = std::move(traffic);
    ov.generation = next_generation_++;
  }
  notify();
}

void LifecycleManager::audit(const std::string& model, const std::string& action, const std::string& detail) {
  if (auto st = registry_.record_event(model, action, detail, kActor); !st.is_ok())
    spdlog::error("audit {}: {}", action, st.to_string());
}

void LifecycleManager::start() {
  on_demand_.start();
  std::lock_guard lock(loop_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void LifecycleManager::notify() {
  {
    std::lock_guard lock(loop_mu_);
    wake_ = true;
  }
  loop_cv_.notify_all();
}

void LifecycleManager::notify_revision(int64_t revision) {
  int64_t before = seen_revision_.load();
  while (revision > before && !seen_revision_.compare_exchange_weak(before, revision)) {
  }
  notify();
}

void LifecycleManager::loop() {
  for (;;) {
    reconcile_once();
    const auto interval = loop_interval();
    std::unique_lock lock(loop_mu_);
    loop_cv_.wait_for(lock, interval, [this] { return wake_ || stopping_; });
    if (stopping_) return;
    wake_ = false;
  }
}

void LifecycleManager::stop() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  on_demand_.stop();  // no load starts once servables begin to stop

  std::lock_guard pass(reconcile_mu_);
  std::vector<std::shared_ptr<serving::Servable>> all;
  {
    std::lock_guard lock(mu_);
    routes_.publish(std::make_shared<routing::RouteTable>());
    published_.clear();
    for (auto& [key, e] : entries_)
      if (e.servable) all.push_back(std::move(e.servable));
    entries_.clear();
  }
  for (auto& s : all) s->stop();  // finishes queued requests, then joins
}

}  // namespace quiver::lifecycle
