#include "server/version_runner.h"

#include <spdlog/spdlog.h>

#include "lifecycle/servable_config.h"

namespace quiver::server {
namespace {

void name_inputs(std::vector<Tensor>& inputs, const ModelSignature& signature) {
  if (signature.inputs.size() != 1) return;
  for (auto& t : inputs)
    if (t.name().empty()) t.set_name(signature.inputs.front().name);
}

}  // namespace

VersionRunner::VersionRunner(routing::RoutePublisher& routes, registry::Registry& registry, store::BlobStore& blobs,
                             serving::BackendLoader loader, int intra_op_threads)
    : routes_(routes),
      registry_(registry),
      blobs_(blobs),
      loader_(std::move(loader)),
      intra_op_threads_(intra_op_threads) {}

VersionRunner::~VersionRunner() { stop(); }

void VersionRunner::run(const std::string& model, int64_t version, std::vector<Tensor> inputs,
                        quality::RunDone done) {
  std::shared_ptr<serving::Servable> servable;
  bool live = false;
  {
    auto table = routes_.load();
    if (auto e = table->resolve_pinned(model, std::to_string(version)); e.is_ok()) {
      servable = (*e)->servable;
      live = true;
    }
  }
  if (!servable) {
    auto loaded = temporary(model, version);
    if (!loaded.is_ok()) return done(loaded.status());
    servable = std::move(loaded).value();
  }
  name_inputs(inputs, servable->signature());
  if (live) {
    // probe() skips the input check that submit() makes; make it here.
    if (Status st = check_inputs(servable->signature(), inputs); !st.is_ok()) return done(st);
    servable->probe(std::move(inputs), std::move(done));
  } else {
    servable->submit(std::move(inputs), std::move(done));
  }
}

Result<std::shared_ptr<serving::Servable>> VersionRunner::temporary(const std::string& model, int64_t version) {
  std::lock_guard lock(mu_);
  auto key = std::make_pair(model, version);
  if (auto it = loaded_.find(key); it != loaded_.end()) return it->second;
  QUIVER_ASSIGN_OR_RETURN(auto record, registry_.get_version(model, version));
  // Never load from bytes that no longer match their name.
  QUIVER_RETURN_IF_ERROR(blobs_.verify(record.artifact_sha256));
  if (verify_before_load_) QUIVER_RETURN_IF_ERROR(verify_before_load_(record));
  QUIVER_ASSIGN_OR_RETURN(auto path, blobs_.path_of(record.artifact_sha256));
  const serving::ServableConfig config = lifecycle::servable_config(record, path, DeployedVersion{}, intra_op_threads_);
  auto servable = serving::Servable::load(config, loader_, /*metrics=*/nullptr);
  if (!servable.is_ok())
    return servable.status().with_context("loading model '" + model + "' version " + std::to_string(version) +
                                          " for an evaluation");
  spdlog::info("model '{}' version {} loaded for an evaluation", model, version);
  loaded_.emplace(std::move(key), *servable);
  return servable;
}

void VersionRunner::release(const std::string& model, int64_t version) {
  std::shared_ptr<serving::Servable> servable;
  {
    std::lock_guard lock(mu_);
    auto it = loaded_.find({model, version});
    if (it == loaded_.end()) return;
    servable = std::move(it->second);
    loaded_.erase(it);
  }
  servable->stop();
  spdlog::info("model '{}' version {} unloaded after its evaluation", model, version);
}

void VersionRunner::stop() {
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<serving::Servable>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(loaded_);
  }
  for (auto& [key, servable] : all) servable->stop();
}

}  // namespace quiver::server
