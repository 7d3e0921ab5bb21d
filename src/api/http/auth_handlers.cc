// Access tokens and the audit chain's verification (API.md §5). Admin only (authz.cc).
// A token's secret appears exactly once: in the answer to POST /v1/tokens.
#include <nlohmann/json.hpp>

#include <chrono>

#include "api/http/authz.h"
#include "api/http/http_server.h"
#include "api/http/json_views.h"
#include "auth/token.h"

namespace quiver::http {
namespace {

using nlohmann::json;

std::string utc_of_ms(int64_t ms) {
  return format_utc(std::chrono::system_clock::time_point(std::chrono::milliseconds(ms)));
}

json key_json(const registry::ApiKeyRecord& k, std::chrono::system_clock::time_point now) {
  json j = {{"id", k.id}, {"role", k.role}, {"models", k.models}, {"created_at", k.created_at}};
  if (!k.description.empty()) j["description"] = k.description;
  if (!k.created_by.empty()) j["created_by"] = k.created_by;
  j["expires_at"] = k.expires_at_ms ? json(utc_of_ms(*k.expires_at_ms)) : json(nullptr);
  j["revoked_at"] = k.revoked_at ? json(*k.revoked_at) : json(nullptr);
  j["last_used"] = k.last_used ? json(*k.last_used) : json(nullptr);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  j["state"] = k.revoked_at                                    ? "revoked"
               : (k.expires_at_ms && *k.expires_at_ms <= now_ms) ? "expired"
                                                                 : "active";
  return j;
}

Result<auth::NewKey> parse_new_key(const std::string& body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object())
    return invalid_argument("body must be a JSON object: {\"role\", \"models\"?: [glob], \"expires_in\"?: \"90d\"}");
  for (const auto& item : doc.items()) {
    if (item.key() != "role" && item.key() != "models" && item.key() != "expires_in" && item.key() != "description")
      return invalid_argument("unknown field '" + item.key() + "' in a token request");
  }
  auth::NewKey key;
  const auto role = doc.find("role");
  if (role == doc.end() || !role->is_string())
    return invalid_argument("'role' is required: admin, deployer, publisher, reader or infer");
  const auto parsed_role = auth::role_from_name(role->get<std::string>());
  if (!parsed_role)
    return invalid_argument("unknown role '" + role->get<std::string>().substr(0, 32) +
                            "'; use admin, deployer, publisher, reader or infer");
  key.role = *parsed_role;
  if (const auto models = doc.find("models"); models != doc.end()) {
    if (!models->is_array()) return invalid_argument("'models' must be a list of model-name globs");
    key.models.clear();
    for (const auto& m : *models) {
      if (!m.is_string()) return invalid_argument("'models' must be a list of model-name globs");
      key.models.push_back(m.get<std::string>());
    }
  }
  if (const auto expires = doc.find("expires_in"); expires != doc.end() && !expires->is_null()) {
    if (!expires->is_string()) return invalid_argument("'expires_in' must be a duration such as \"90d\" or \"12h\"");
    QUIVER_ASSIGN_OR_RETURN(auto seconds, auth::parse_duration(expires->get<std::string>()));
    key.expires_in = seconds;
  }
  if (const auto d = doc.find("description"); d != doc.end()) {
    if (!d->is_string() || d->get<std::string>().size() > 256)
      return invalid_argument("'description' must be a string of at most 256 characters");
    key.description = d->get<std::string>();
  }
  return key;
}

}  // namespace

void register_auth_routes(HttpServer& server, registry::Registry& registry, auth::KeyStore& keys) {
  server.route("POST", "/v1/tokens", [&keys](const auto& req, Responder respond) {
    auto key = parse_new_key(*req->body);
    if (!key.is_ok()) return respond(HttpResponse::error(key.status()));
    auto created = keys.create(*key, actor_of(*req));
    if (!created.is_ok()) return respond(HttpResponse::error(created.status()));
    json out = key_json(created->record, std::chrono::system_clock::now());
    out["token"] = created->token;  // the only time the secret is shown
    HttpResponse response = HttpResponse::json(201, out.dump());
    response.headers.emplace_back("Cache-Control", "no-store");
    respond(std::move(response));
  });
  server.route("GET", "/v1/tokens", [&keys](const auto&, Responder respond) {
    auto list = keys.list();
    if (!list.is_ok()) return respond(HttpResponse::error(list.status()));
    const auto now = std::chrono::system_clock::now();
    json out = json::array();
    for (const auto& k : *list) out.push_back(key_json(k, now));
    respond(HttpResponse::json(200, out.dump()));
  });
  server.route("DELETE", "/v1/tokens/{id}", [&keys](const auto& req, Responder respond) {
    const std::string& id = req->path_params.at("id");
    if (id.starts_with(auth::kTokenPrefix))  // never repeat what may be a whole token
      return respond(HttpResponse::error(invalid_argument(
          "give the token's key id (the 16 characters after qv_, as GET /v1/tokens lists it), not the token")));
    auto revoked = keys.revoke(id, actor_of(*req));
    if (!revoked.is_ok()) return respond(HttpResponse::error(revoked.status()));
    respond(HttpResponse::json(200, key_json(*revoked, std::chrono::system_clock::now()).dump()));
  });
  server.route("GET", "/v1/audit/verify", [&registry](const auto&, Responder respond) {
    auto verified = registry.verify_audit();
    if (!verified.is_ok()) return respond(HttpResponse::error(verified.status()));
    json out = {{"ok", verified->ok}, {"records", verified->records}};
    if (verified->first_broken) {
      out["first_broken"] = *verified->first_broken;
      out["problem"] = verified->problem;
    } else {
      out["head"] = verified->head_hash;
    }
    respond(HttpResponse::json(200, out.dump()));
  });
}

}  // namespace quiver::http
