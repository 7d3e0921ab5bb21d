// Registry endpoints: content-addressed blobs, model versions, aliases (API.md §2).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "api/http/api_context.h"
#include "api/http/authz.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"
#include "api/http/oip_codec.h"
#include "backends/backend.h"
#include "registry/page_token.h"

namespace quiver::http {
namespace {

using nlohmann::json;

// Streams an upload into the blob store; the store hashes as bytes arrive and only
// a committed blob becomes visible.
class BlobUploadSink final : public UploadSink {
 public:
  explicit BlobUploadSink(std::unique_ptr<store::BlobWriter> writer) : writer_(std::move(writer)) {}
  Status append(std::span<const std::byte> chunk) override { return writer_->append(chunk); }
  void finish(Responder respond) override {
    auto info = writer_->commit();
    if (!info.is_ok()) return respond(HttpResponse::error(info.status()));
    respond(HttpResponse::json(201, json{{"sha256", info->sha256}, {"size", info->size}}.dump()));
  }

 private:
  std::unique_ptr<store::BlobWriter> writer_;
};

// A stored blob, streamed from its open file while the response is written, so a
// multi-gigabyte artifact never sits in memory. The file is opened (and its size
// taken) before the header goes out; blobs are immutable, and an open descriptor
// keeps the bytes readable even if the blob is removed meanwhile.
class BlobFileBody final : public BodySource {
 public:
  static Result<std::shared_ptr<BlobFileBody>> open(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return internal_error("cannot open blob " + path.filename().string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return internal_error("cannot stat blob " + path.filename().string() + ": " + std::strerror(err));
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::shared_ptr<BlobFileBody>(new BlobFileBody(fd, static_cast<uint64_t>(st.st_size)));
  }
  ~BlobFileBody() override { ::close(fd_); }
  BlobFileBody(const BlobFileBody&) = delete;
  BlobFileBody& operator=(const BlobFileBody&) = delete;

  uint64_t size() const override { return size_; }
  Result<size_t> read(std::span<std::byte> out) override {
    for (;;) {
      const ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return internal_error(std::string("reading a blob failed: ") + std::strerror(errno));
    }
  }

 private:
  BlobFileBody(int fd, uint64_t size) : fd_(fd), size_(size) {}
  const int fd_;
  const uint64_t size_;
};

std::string state_of(ApiContext& ctx, const std::string& model, int64_t version) {
  if (auto st = ctx.manager.status(model))
    for (const auto& v : st->versions)
      if (v.version == version) return v.state;
  return "registered";
}

Result<registry::NewVersion> parse_new_version(const std::string& model, const std::string& body,
                                               store::BlobStore& blobs) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid_argument("body must be a JSON object");
  static const std::set<std::string> kFields = {"artifact", "framework", "version", "description", "metadata",
                                                "inputs",   "outputs",   "warmup",  "signature",   "signed_by"};
  for (const auto& [k, v] : j.items())
    if (!kFields.count(k)) return invalid_argument("unknown field '" + k + "'");
  registry::NewVersion nv;
  nv.model = model;
  if (!j.contains("artifact") || !j["artifact"].is_string())
    return invalid_argument("'artifact' (the sha256 of an uploaded blob) is required");
  nv.artifact_sha256 = j["artifact"].get<std::string>();
  if (!store::is_valid_sha256(nv.artifact_sha256))
    return invalid_argument("'artifact' must be 64 lower-case hex characters (a sha256)");
  auto info = blobs.stat(nv.artifact_sha256);
  if (!info.is_ok())
    return not_found("blob " + nv.artifact_sha256 + " is not in the store; upload it with POST /v1/blobs first");
  nv.size = info->size;
  if (!j.contains("framework") || !j["framework"].is_string())
    return invalid_argument("'framework' is required: \"torchscript\" or \"onnx\"");
  nv.framework = j["framework"].get<std::string>();
  if (!backends::is_known_framework(nv.framework))
    return invalid_argument("unknown framework '" + nv.framework + "'; use \"torchscript\" or \"onnx\"");
  if (j.contains("version")) {
    if (!j["version"].is_number_integer() || j["version"].get<int64_t>() < 1)
      return invalid_argument("'version' must be a positive integer");
    nv.version = j["version"].get<int64_t>();
  }
  if (j.contains("description")) {
    if (!j["description"].is_string()) return invalid_argument("'description' must be a string");
    nv.description = j["description"].get<std::string>();
  }
  if (j.contains("metadata")) {
    if (!j["metadata"].is_object()) return invalid_argument("'metadata' must be an object of strings");
    for (const auto& [k, v] : j["metadata"].items()) {
      if (!v.is_string()) return invalid_argument("metadata '" + k + "' must be a string");
      nv.metadata[k] = v.get<std::string>();
    }
  }
  if (j.contains("inputs")) {
    QUIVER_ASSIGN_OR_RETURN(nv.signature.inputs, parse_tensor_specs(j["inputs"], "inputs"));
  }
  if (j.contains("outputs")) {
    QUIVER_ASSIGN_OR_RETURN(nv.signature.outputs, parse_tensor_specs(j["outputs"], "outputs"));
  }
  if (j.contains("warmup")) {
    nv.warmup_json = j["warmup"].dump();
    auto body_ptr = std::make_shared<const std::string>(nv.warmup_json);
    auto parsed = parse_infer_request(body_ptr, std::nullopt);
    if (!parsed.is_ok()) return parsed.status().with_context("'warmup' is not a valid inference request");
  }
  // Verified by the handler (auth/signature_policy.h); until then signed_by holds the
  // key id the client claims, if any.
  if (j.contains("signature")) {
    if (!j["signature"].is_string())
      return invalid_argument("'signature' must be a string: base64 of an ECDSA P-256 signature");
    nv.artifact_signature = j["signature"].get<std::string>();
  }
  if (j.contains("signed_by")) {
    if (!j["signed_by"].is_string()) return invalid_argument("'signed_by' must be a key id (16 hex characters)");
    nv.signed_by = j["signed_by"].get<std::string>();
  }
  return nv;
}

// Signed artifacts: refuses what the policy refuses, and records the verified signer
// in place of the key id the client claimed.
Status apply_signature_policy(ApiContext& ctx, registry::NewVersion& nv) {
  if (ctx.signatures == nullptr) {
    if (nv.artifact_signature.empty() && nv.signed_by.empty()) return Status::ok();
    return permission_denied("this server does not verify artifact signatures");
  }
  QUIVER_ASSIGN_OR_RETURN(nv.signed_by, ctx.signatures->verify_new_version(nv.model, nv.artifact_sha256,
                                                                          nv.artifact_signature, nv.signed_by));
  return Status::ok();
}

void handle_get_blob(ApiContext& ctx, const std::shared_ptr<HttpRequest>& req, Responder respond, bool head) {
  const std::string& sha = req->path_params.at("sha256");
  if (!store::is_valid_sha256(sha)) return respond(HttpResponse::error(invalid_argument("not a sha256: " + sha)));
  auto path = ctx.blobs.path_of(sha);
  if (!path.is_ok()) return respond(HttpResponse::error(path.status()));
  HttpResponse resp;
  resp.content_type = "application/octet-stream";
  if (head) {
    auto info = ctx.blobs.stat(sha);
    if (info.is_ok()) resp.head_content_length = info->size;
    return respond(std::move(resp));
  }
  auto body = BlobFileBody::open(*path);
  if (!body.is_ok()) return respond(HttpResponse::error(body.status()));
  resp.stream = std::move(body).value();
  respond(std::move(resp));
}

// --- paginated listings (registry/page_token.h) ---
constexpr size_t kMaxPage = 1000;

bool is_paged(const HttpRequest& req) { return req.query.count("limit") || req.query.count("page_token"); }

std::string query_value(const HttpRequest& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? std::string() : it->second;
}

HttpResponse list_models_page(ApiContext& ctx, const HttpRequest& req) {
  auto limit = registry::parse_page_limit(query_value(req, "limit"), 100, kMaxPage);
  if (!limit.is_ok()) return HttpResponse::error(limit.status());
  std::string after;
  if (auto token = query_value(req, "page_token"); !token.empty()) {
    auto parsed = registry::parse_model_page_token(token);
    if (!parsed.is_ok()) return HttpResponse::error(parsed.status());
    after = std::move(parsed).value();
  }
  auto models = ctx.registry.list_models_page(after, *limit);
  if (!models.is_ok()) return HttpResponse::error(models.status());
  json out = {{"models", json::array()}};
  for (const auto& m : *models)
    if (in_scope(req, m.name)) out["models"].push_back(model_summary_json(m));
  // A full page may have a successor; a short one is the last.
  if (models->size() == *limit) out["next_page_token"] = registry::model_page_token(models->back().name);
  return HttpResponse::json(200, out.dump());
}

HttpResponse model_versions_page(ApiContext& ctx, const HttpRequest& req) {
  auto limit = registry::parse_page_limit(query_value(req, "limit"), 100, kMaxPage);
  if (!limit.is_ok()) return HttpResponse::error(limit.status());
  int64_t after = 0;
  if (auto token = query_value(req, "page_token"); !token.empty()) {
    auto parsed = registry::parse_version_page_token(token);
    if (!parsed.is_ok()) return HttpResponse::error(parsed.status());
    after = *parsed;
  }
  auto m = ctx.registry.get_model_page(req.path_params.at("model"), after, *limit);
  if (!m.is_ok()) return HttpResponse::error(m.status());
  json out = model_summary_json(*m);
  if (m->versions.size() == *limit) out["next_page_token"] = registry::version_page_token(m->versions.back());
  return HttpResponse::json(200, out.dump());
}

}  // namespace

void register_registry_routes(HttpServer& server, ApiContext& ctx) {
  server.route_upload("POST", "/v1/blobs", [&ctx](const auto&) -> Result<std::unique_ptr<UploadSink>> {
    QUIVER_ASSIGN_OR_RETURN(auto writer, ctx.blobs.begin_upload());
    return std::unique_ptr<UploadSink>(std::make_unique<BlobUploadSink>(std::move(writer)));
  });
  server.route("HEAD", "/v1/blobs/{sha256}",
               [&ctx](const auto& req, Responder respond) { handle_get_blob(ctx, req, std::move(respond), true); });
  server.route("GET", "/v1/blobs/{sha256}",
               [&ctx](const auto& req, Responder respond) { handle_get_blob(ctx, req, std::move(respond), false); });

  server.route("POST", "/v1/models/{model}/versions", [&ctx](const auto& req, Responder respond) {
    const std::string& model = req->path_params.at("model");
    auto nv = parse_new_version(model, *req->body, ctx.blobs);
    if (!nv.is_ok()) return respond(HttpResponse::error(nv.status()));
    if (Status signed_ok = apply_signature_policy(ctx, *nv); !signed_ok.is_ok())
      return respond(HttpResponse::error(signed_ok));
    // Replicas fetch artifacts from the durable copy: it exists before any of them can
    // see the version that names it.
    if (ctx.store_durable_artifact) {
      if (Status st = ctx.store_durable_artifact(nv->artifact_sha256); !st.is_ok())
        return respond(HttpResponse::error(st.with_context("storing the artifact's durable copy")));
    }
    auto rec = ctx.registry.create_version(*nv, actor_of(*req));
    if (!rec.is_ok()) return respond(HttpResponse::error(rec.status()));
    ctx.manager.notify();  // the route table lists registered versions
    respond(HttpResponse::json(201, version_json(*rec, "registered").dump()));
  });
  server.route("GET", "/v1/models", [&ctx](const auto& req, Responder respond) {
    // With `limit` or `page_token`: {"models": [...], "next_page_token"?}; without,
    // the whole list as a plain array, as before pagination.
    if (is_paged(*req)) return respond(list_models_page(ctx, *req));
    auto models = ctx.registry.list_models();
    if (!models.is_ok()) return respond(HttpResponse::error(models.status()));
    json arr = json::array();
    for (const auto& m : *models)
      if (in_scope(*req, m.name)) arr.push_back(model_summary_json(m));  // a scoped token sees its models
    respond(HttpResponse::json(200, arr.dump()));
  });
  server.route("GET", "/v1/models/{model}", [&ctx](const auto& req, Responder respond) {
    if (is_paged(*req)) return respond(model_versions_page(ctx, *req));
    auto m = ctx.registry.get_model(req->path_params.at("model"));
    if (!m.is_ok()) return respond(HttpResponse::error(m.status()));
    respond(HttpResponse::json(200, model_summary_json(*m).dump()));
  });
  server.route("GET", "/v1/models/{model}/versions/{version}", [&ctx](const auto& req, Responder respond) {
    const std::string& model = req->path_params.at("model");
    auto v = ctx.registry.resolve(model, req->path_params.at("version"));
    if (!v.is_ok()) return respond(HttpResponse::error(v.status()));
    auto rec = ctx.registry.get_version(model, *v);
    if (!rec.is_ok()) return respond(HttpResponse::error(rec.status()));
    respond(HttpResponse::json(200, version_json(*rec, state_of(ctx, model, *v)).dump()));
  });
  server.route("PUT", "/v1/models/{model}/aliases/{alias}", [&ctx](const auto& req, Responder respond) {
    json j = json::parse(*req->body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("version"))
      return respond(HttpResponse::error(invalid_argument("body must be {\"version\": <int or alias>}")));
    const std::string& model = req->path_params.at("model");
    Result<int64_t> version = invalid_argument("'version' must be a positive integer");
    if (j["version"].is_number_integer()) version = j["version"].get<int64_t>();
    if (j["version"].is_string()) version = ctx.registry.resolve(model, j["version"].get<std::string>());
    if (!version.is_ok()) return respond(HttpResponse::error(version.status()));
    const std::string& alias = req->path_params.at("alias");
    if (Status st = ctx.registry.set_alias(model, alias, *version, actor_of(*req)); !st.is_ok())
      return respond(HttpResponse::error(st));
    ctx.manager.notify();
    respond(HttpResponse::json(200, json{{"model", model}, {"alias", alias}, {"version", *version}}.dump()));
  });
  server.route("DELETE", "/v1/models/{model}/aliases/{alias}", [&ctx](const auto& req, Responder respond) {
    const std::string& model = req->path_params.at("model");
    const std::string& alias = req->path_params.at("alias");
    if (Status st = ctx.registry.delete_alias(model, alias, actor_of(*req)); !st.is_ok())
      return respond(HttpResponse::error(st));
    ctx.manager.notify();
    respond(HttpResponse::json(200, json{{"model", model}, {"alias", alias}, {"deleted", true}}.dump()));
  });
}

}  // namespace quiver::http
