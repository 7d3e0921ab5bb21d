// ModelConfig and the model repository extension (RepositoryIndex,
// RepositoryModelLoad, RepositoryModelUnload) over gRPC, through the same
// ModelRepository as HTTP (api/http/repository_handlers.cc).
#include <string>

#include "api/grpc/grpc_inference_service.h"
#include "backends/backend.h"

namespace quiver::grpc_api {
namespace {

grpc::Status no_repository(const char* method) {
  return {grpc::StatusCode::UNIMPLEMENTED,
          std::string(method) + " is not available: this server was started without a model repository"};
}

inference::DataType proto_datatype(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return inference::TYPE_BOOL;
    case DataType::kUint8: return inference::TYPE_UINT8;
    case DataType::kUint16: return inference::TYPE_UINT16;
    case DataType::kUint32: return inference::TYPE_UINT32;
    case DataType::kUint64: return inference::TYPE_UINT64;
    case DataType::kInt8: return inference::TYPE_INT8;
    case DataType::kInt16: return inference::TYPE_INT16;
    case DataType::kInt32: return inference::TYPE_INT32;
    case DataType::kInt64: return inference::TYPE_INT64;
    case DataType::kFp16: return inference::TYPE_FP16;
    case DataType::kFp32: return inference::TYPE_FP32;
    case DataType::kFp64: return inference::TYPE_FP64;
    case DataType::kBytes: return inference::TYPE_STRING;
  }
  return inference::TYPE_INVALID;
}

void fill_config(const lifecycle::ModelConfigView& view, ::inference::ModelConfig& out) {
  out.set_name(view.name);
  out.set_platform(backends::platform_name(view.framework));
  out.set_backend(view.framework);
  out.set_max_batch_size(view.max_batch_size);
  for (const auto& t : view.signature.inputs) {
    auto* in = out.add_input();
    in->set_name(t.name);
    in->set_data_type(proto_datatype(t.dtype));
    for (int64_t d : t.shape) in->add_dims(d);
  }
  for (const auto& t : view.signature.outputs) {
    auto* o = out.add_output();
    o->set_name(t.name);
    o->set_data_type(proto_datatype(t.dtype));
    for (int64_t d : t.shape) o->add_dims(d);
  }
  auto* group = out.add_instance_group();
  group->set_count(view.instances);
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  if (view.dynamic_batching) {
    auto* batching = out.mutable_dynamic_batching();
    for (int s : view.preferred_batch_sizes) batching->add_preferred_batch_size(s);
    batching->set_max_queue_delay_microseconds(static_cast<uint64_t>(view.max_queue_delay_us));
  }
}

// The version a load names: parameters {"version": "3" | 3}. Other parameters (a
// configuration or files to write) have no meaning here and are refused, so that a
// client never believes they took effect.
Result<std::optional<std::string>> load_version(
    const google::protobuf::Map<std::string, inference::ModelRepositoryParameter>& parameters) {
  std::optional<std::string> version;
  for (const auto& [name, value] : parameters) {
    if (name != "version")
      return invalid_argument("load parameter '" + name +
                              "' is not supported: register versions with POST /v1/models/{m}/versions and name one "
                              "with the \"version\" parameter");
    if (value.has_string_param()) {
      version = value.string_param();
    } else if (value.has_int64_param()) {
      version = std::to_string(value.int64_param());
    } else {
      return invalid_argument("load parameter 'version' must be a string or an int64 (a version number or alias)");
    }
  }
  return version;
}

registry::Actor actor_of(const grpc::ServerContext& ctx) {
  registry::Actor actor;
  actor.client = "grpc (" + ctx.peer() + ")";
  const auto& metadata = ctx.client_metadata();
  if (auto it = metadata.find("x-quiver-reason"); it != metadata.end())
    actor.reason.assign(it->second.data(), it->second.size());
  return actor;
}

}  // namespace

void GrpcInferenceService::ModelConfig(ModelConfigCall& call) {
  const auto* req = &call.request();
  auto* resp = &call.response();
  if (repository_ == nullptr) return finish(call, no_repository("ModelConfig"));
  if (auto denied = authorize(call.context(), auth::Permission::kModelMetadata, req->name()); !denied.ok())
    return finish(call, denied);
  std::optional<std::string> version;
  if (!req->version().empty()) version = req->version();
  auto view = repository_->config(req->name(), version);
  if (!view.is_ok()) return finish(call, view.status());
  fill_config(*view, *resp->mutable_config());
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::RepositoryIndex(RepositoryIndexCall& call) {
  const auto* req = &call.request();
  auto* resp = &call.response();
  if (repository_ == nullptr) return finish(call, no_repository("RepositoryIndex"));
  std::optional<auth::Principal> principal;
  if (authorizer_ != nullptr && authorizer_->enabled()) {
    const auto& metadata = call.context().client_metadata();
    const auto it = metadata.find("authorization");
    const std::string_view credentials =
        it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
    auto decision = authorizer_->authorize(credentials, auth::Permission::kRead, "");
    if (!decision.allowed()) return finish(call, decision.status);
    principal = decision.principal;
  }
  auto entries = repository_->index(req->ready());
  if (!entries.is_ok()) return finish(call, entries.status());
  for (const auto& e : *entries) {
    // A token scoped to some models sees only those, as GET /v1/models shows it.
    if (principal && !principal->may_use_model(e.model)) continue;
    auto* m = resp->add_models();
    m->set_name(e.model);
    m->set_version(std::to_string(e.version));
    m->set_state(e.state);
    m->set_reason(e.reason);
  }
  return finish(call, grpc::Status::OK);
}

void GrpcInferenceService::RepositoryModelLoad(RepositoryModelLoadCall& call) {
  const auto* req = &call.request();
  if (repository_ == nullptr) return finish(call, no_repository("RepositoryModelLoad"));
  if (auto denied = authorize(call.context(), auth::Permission::kDeploy, req->model_name()); !denied.ok())
    return finish(call, denied);
  auto version = load_version(req->parameters());
  if (!version.is_ok()) return finish(call, version.status());
  auto change = repository_->load(req->model_name(), *version, actor_of(call.context()));
  if (!change.is_ok()) return finish(call, change.status());
  repository_->await(*change, lifecycle::AwaitKind::kLoaded, kRepositoryWait,
                     [&call](Status st) { finish(call, st); });
}

void GrpcInferenceService::RepositoryModelUnload(RepositoryModelUnloadCall& call) {
  const auto* req = &call.request();
  if (repository_ == nullptr) return finish(call, no_repository("RepositoryModelUnload"));
  if (auto denied = authorize(call.context(), auth::Permission::kDeploy, req->model_name()); !denied.ok())
    return finish(call, denied);
  auto change = repository_->unload(req->model_name(), actor_of(call.context()));
  if (!change.is_ok()) return finish(call, change.status());
  repository_->await(*change, lifecycle::AwaitKind::kUnloaded, kRepositoryWait,
                     [&call](Status st) { finish(call, st); });
}

}  // namespace quiver::grpc_api
