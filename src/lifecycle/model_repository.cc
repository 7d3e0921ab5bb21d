#include "lifecycle/model_repository.h"

#include <algorithm>

#include "registry/deployment_spec_json.h"

namespace quiver::lifecycle {
namespace {

// How often the waiter looks at pending waits: short next to a model's load time,
// long next to the cost of one look (a status copy per waiting model).
constexpr auto kWaitPoll = std::chrono::milliseconds(20);

// The manager's version state in the protocol's words.
RepositoryEntry entry_for(const std::string& model, int64_t version, const VersionStatus* vs) {
  RepositoryEntry e{model, version, "UNAVAILABLE", "not deployed"};
  if (vs == nullptr) return e;
  if (vs->state == "ready") {
    e.state = "READY";
    e.reason = vs->ejected ? "ejected from routing: " + vs->ejected_reason : "";
  } else if (vs->state == "failed") {
    e.reason = vs->error.empty() ? "failed to load" : vs->error;
  } else if (vs->state == "draining" || vs->state == "unloaded") {
    e.state = "UNLOADING";
    e.reason = vs->state;
  } else {
    e.state = "LOADING";
    e.reason = vs->state;  // pending, loading, warming
  }
  return e;
}

// A model's deployed spec, or nullopt without a live deployment.
Result<std::optional<DeploymentSpec>> deployed_spec(const registry::Registry& registry, const std::string& model,
                                                    int64_t* revision) {
  QUIVER_ASSIGN_OR_RETURN(auto current, registry.current_deployment(model));
  if (!current) return std::optional<DeploymentSpec>();
  if (revision != nullptr) *revision = current->revision;
  QUIVER_ASSIGN_OR_RETURN(auto spec, registry::parse_deployment_spec(current->spec_json));
  return std::optional<DeploymentSpec>(std::move(spec));
}

std::vector<int64_t> versions_of(const DeploymentSpec& spec) {
  std::vector<int64_t> out;
  for (const auto& dv : spec.versions) out.push_back(dv.version.version);
  return out;
}

// Batching applies along a leading dimension every tensor leaves variable; only then
// may the configuration leave that dimension out, as clients of the protocol expect.
bool has_batch_dimension(const ModelSignature& sig) {
  if (sig.inputs.empty()) return false;
  auto leading = [](const std::vector<TensorSpec>& specs) {
    return std::all_of(specs.begin(), specs.end(),
                       [](const TensorSpec& t) { return !t.shape.empty() && t.shape.front() == -1; });
  };
  return leading(sig.inputs) && leading(sig.outputs);
}

void drop_batch_dimension(std::vector<TensorSpec>& specs) {
  for (auto& t : specs) t.shape.erase(t.shape.begin());
}

}  // namespace

ModelRepository::ModelRepository(registry::Registry& registry, LifecycleManager& manager,
                                 routing::RoutePublisher& routes, const Clock& clock)
    : registry_(registry), manager_(manager), routes_(routes), clock_(clock) {}

ModelRepository::~ModelRepository() { stop(); }

Result<std::vector<RepositoryEntry>> ModelRepository::index(bool ready_only) const {
  QUIVER_ASSIGN_OR_RETURN(auto models, registry_.list_models());
  std::sort(models.begin(), models.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<RepositoryEntry> out;
  for (const auto& m : models) {
    const auto status = manager_.status(m.name);
    for (int64_t v : m.versions) {
      const VersionStatus* vs = nullptr;
      if (status)
        for (const auto& s : status->versions)
          if (s.version == v) vs = &s;
      RepositoryEntry e = entry_for(m.name, v, vs);
      if (!ready_only || e.state == "READY") out.push_back(std::move(e));
    }
  }
  return out;
}

Result<RepositoryChange> ModelRepository::load(const std::string& model, const std::optional<std::string>& version_ref,
                                               const registry::Actor& actor) {
  QUIVER_ASSIGN_OR_RETURN(auto summary, registry_.get_model(model));
  if (summary.versions.empty())
    return failed_precondition("model '" + model + "' has no registered version to load");
  int64_t version = summary.versions.back();
  if (version_ref) {
    QUIVER_ASSIGN_OR_RETURN(version, registry_.resolve(model, *version_ref));
  }
  registry::Actor who = actor;
  if (who.reason.empty()) who.reason = "model repository load";

  RepositoryChange change{model, 0, false, {}};
  QUIVER_ASSIGN_OR_RETURN(auto spec, deployed_spec(registry_, model, &change.revision));
  const bool listed = spec && std::any_of(spec->versions.begin(), spec->versions.end(),
                                          [&](const DeployedVersion& dv) { return dv.version.version == version; });
  // A deployed model is left as it is unless the asked version is missing; that one
  // joins without routed traffic, so loading never moves users between versions.
  if (spec && (listed || !version_ref)) {
    change.versions = versions_of(*spec);
    manager_.notify();
    return change;
  }
  if (!spec) spec.emplace();
  DeployedVersion dv;
  dv.version = VersionRef{version_ref.value_or(std::to_string(version)), version};
  spec->versions.push_back(dv);
  QUIVER_ASSIGN_OR_RETURN(auto rev, registry_.put_deployment(model, registry::serialize_deployment_spec(*spec), who));
  manager_.notify();
  change.revision = rev.revision;
  change.written = true;
  change.versions = versions_of(*spec);
  return change;
}

Result<RepositoryChange> ModelRepository::unload(const std::string& model, const registry::Actor& actor) {
  QUIVER_RETURN_IF_ERROR(registry_.get_model(model).status());
  RepositoryChange change{model, 0, false, {}};
  QUIVER_ASSIGN_OR_RETURN(auto current, registry_.current_deployment(model));
  if (!current) return change;  // nothing is deployed: already unloaded
  registry::Actor who = actor;
  if (who.reason.empty()) who.reason = "model repository unload";
  QUIVER_ASSIGN_OR_RETURN(auto rev, registry_.delete_deployment(model, who));
  manager_.notify();
  change.revision = rev.revision;
  change.written = true;
  return change;
}

Result<ModelConfigView> ModelRepository::config(const std::string& model,
                                                const std::optional<std::string>& version_ref) const {
  QUIVER_ASSIGN_OR_RETURN(auto summary, registry_.get_model(model));
  auto table = routes_.load();
  ModelConfigView view;
  view.name = model;
  if (version_ref) {
    QUIVER_ASSIGN_OR_RETURN(view.version, registry_.resolve(model, *version_ref));
  } else if (auto route = table->route_for(model); route.is_ok() && !(*route)->endpoints().empty()) {
    view.version = (*route)->endpoints().front().version;
  } else if (!summary.versions.empty()) {
    view.version = summary.versions.back();
  } else {
    return not_found("model '" + model + "' has no registered version");
  }
  QUIVER_ASSIGN_OR_RETURN(auto record, registry_.get_version(model, view.version));
  view.framework = record.framework;
  view.signature = record.signature;
  // A loaded version knows its real tensors (the registry may hold none).
  if (auto live = table->resolve_pinned(model, std::to_string(view.version)); live.is_ok())
    view.signature = (*live)->servable->signature();

  QUIVER_ASSIGN_OR_RETURN(auto spec, deployed_spec(registry_, model, nullptr));
  if (spec)
    for (const auto& dv : spec->versions)
      if (dv.version.version == view.version) {
        view.instances = dv.instances;
        if (dv.batching.max_batch_size > 1 && has_batch_dimension(view.signature)) {
          view.dynamic_batching = true;
          view.max_batch_size = dv.batching.max_batch_size;
          view.preferred_batch_sizes = dv.batching.preferred_batch_sizes;
          view.max_queue_delay_us = dv.batching.max_queue_delay_us;
        }
      }
  if (view.max_batch_size > 0) {
    drop_batch_dimension(view.signature.inputs);
    drop_batch_dimension(view.signature.outputs);
  }
  return view;
}

std::optional<Status> ModelRepository::settled(const std::string& model, AwaitKind kind, int64_t revision) const {
  if (kind == AwaitKind::kUnloaded) {
    const auto* entry = routes_.load()->find(model);
    if (entry == nullptr || entry->route == nullptr) return Status::ok();
    return std::nullopt;
  }
  const auto status = manager_.status(model);
  if (!status || status->revision < revision) return std::nullopt;  // not taken up yet
  if (status->state == "ready") return Status::ok();
  if (status->state == "failed")
    return unavailable("model '" + model + "' failed to load: " + status->message);
  return std::nullopt;
}

void ModelRepository::await(const RepositoryChange& change, AwaitKind kind, std::chrono::milliseconds timeout,
                            Done done) {
  if (auto st = settled(change.model, kind, change.revision)) return done(*st);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      waits_.push_back(Wait{change.model, kind, change.revision, clock_.now() + timeout, std::move(done)});
      cv_.notify_all();
      return;
    }
  }
  done(unavailable("the server is stopping"));
}

void ModelRepository::step() {
  std::vector<Wait> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(waits_);
  }
  std::vector<Wait> left;
  for (auto& w : pending) {
    if (auto st = settled(w.model, w.kind, w.revision)) {
      w.done(*st);
    } else if (clock_.now() >= w.deadline) {
      const char* what = w.kind == AwaitKind::kLoaded ? "loaded" : "unloaded";
      w.done(deadline_exceeded("model '" + w.model + "' is not " + what + " yet; GET /v1/deployments/" + w.model +
                               " shows its progress"));
    } else {
      left.push_back(std::move(w));
    }
  }
  std::lock_guard lock(mu_);
  for (auto& w : left) waits_.push_back(std::move(w));
}

void ModelRepository::start() {
  std::lock_guard guard(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      if (waits_.empty()) {
        cv_.wait(lock, [this] { return stopping_ || !waits_.empty(); });
        continue;
      }
      cv_.wait_for(lock, kWaitPoll, [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      step();
      lock.lock();
    }
  });
}

void ModelRepository::stop() {
  std::vector<Wait> left;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(mu_);
    left.swap(waits_);
  }
  for (auto& w : left) w.done(unavailable("the server is stopping"));
}

}  // namespace quiver::lifecycle
