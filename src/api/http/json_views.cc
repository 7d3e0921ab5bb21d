#include "api/http/json_views.h"

namespace quiver::http {

using nlohmann::json;

json tensor_specs_json(const std::vector<TensorSpec>& specs) {
  json arr = json::array();
  for (const auto& s : specs)
    arr.push_back({{"name", s.name}, {"datatype", std::string(datatype_name(s.dtype))}, {"shape", s.shape}});
  return arr;
}

Result<std::vector<TensorSpec>> parse_tensor_specs(const json& j, const std::string& field) {
  if (!j.is_array()) return invalid_argument("'" + field + "' must be an array of {name, datatype, shape}");
  std::vector<TensorSpec> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    const std::string where = field + "[" + std::to_string(i) + "]";
    if (!e.is_object()) return invalid_argument("'" + where + "' must be an object");
    for (const auto& [k, v] : e.items())
      if (k != "name" && k != "datatype" && k != "shape")
        return invalid_argument("unknown field '" + k + "' in " + where);
    if (!e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().empty())
      return invalid_argument("'" + where + ".name' must be a non-empty string");
    if (!e.contains("datatype") || !e["datatype"].is_string())
      return invalid_argument("'" + where + ".datatype' must be a string such as \"FP32\"");
    auto dt = parse_datatype(e["datatype"].get<std::string>());
    if (!dt) return invalid_argument("'" + where + ".datatype' is not a known datatype: " + e["datatype"].dump());
    if (!e.contains("shape") || !e["shape"].is_array())
      return invalid_argument("'" + where + ".shape' must be an array of integers (-1 for any size)");
    Shape shape;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < -1)
        return invalid_argument("'" + where + ".shape' must hold integers >= -1");
      shape.push_back(d.get<int64_t>());
    }
    out.push_back({e["name"].get<std::string>(), *dt, std::move(shape)});
  }
  return out;
}

json version_json(const registry::VersionRecord& v, const std::string& state) {
  json j = {{"model", v.model},
            {"version", v.version},
            {"framework", v.framework},
            {"artifact", v.artifact_sha256},
            {"size", v.size},
            {"created_at", v.created_at},
            {"description", v.description},
            {"metadata", v.metadata},
            {"inputs", tensor_specs_json(v.signature.inputs)},
            {"outputs", tensor_specs_json(v.signature.outputs)},
            {"state", state}};
  if (!v.warmup_json.empty()) j["warmup"] = json::parse(v.warmup_json, nullptr, false);
  // The id of the trusted key that verified the artifact's signature; null: unsigned.
  j["signed_by"] = v.signed_by.empty() ? json(nullptr) : json(v.signed_by);
  if (!v.artifact_signature.empty()) j["signature"] = v.artifact_signature;
  return j;
}

json model_summary_json(const registry::ModelSummary& m) {
  json aliases = json::object();
  for (const auto& [a, v] : m.aliases) aliases[a] = v;
  json out = {{"name", m.name}, {"versions", m.versions}, {"aliases", aliases}};
  if (!m.signed_by.empty()) {  // signed versions -> the key id that verified each
    json signed_by = json::object();
    for (const auto& [v, key] : m.signed_by) signed_by[std::to_string(v)] = key;
    out["signed_by"] = std::move(signed_by);
  }
  return out;
}

json status_json(const lifecycle::DeploymentStatus& s) {
  json versions = json::array();
  for (const auto& v : s.versions) {
    json jv = {{"version", v.version},
               {"state", v.state},
               {"instances", v.instances},
               {"ready_instances", v.ready_instances},
               {"load_seconds", v.load_seconds},
               {"traffic_share", v.traffic_share},
               {"observed_share", v.observed_share},
               {"requests", v.requests},
               {"errors", v.errors},
               {"rps", v.rps},
               {"p50_ms", v.p50_ms},
               {"p99_ms", v.p99_ms},
               {"worker_restarts", v.worker_restarts}};
    if (!v.error.empty()) jv["error"] = v.error;
    jv["ejected"] = v.ejected;
    if (v.ejected) jv["ejected_reason"] = v.ejected_reason;
    versions.push_back(std::move(jv));
  }
  return {{"state", s.state},
          {"message", s.message},
          {"revision", s.revision},
          {"serving_revision", s.serving_revision},
          {"versions", versions}};
}

json revision_json(const registry::Revision& r) {
  json j = {{"revision", r.revision}, {"created_at", r.created_at}, {"client", r.client},
            {"reason", r.reason},     {"deleted", r.deleted}};
  j["spec"] = r.deleted ? json(nullptr) : json::parse(r.spec_json, nullptr, false);
  return j;
}

json audit_json(const registry::AuditEntry& a) {
  json j = {{"id", a.id},         {"at", a.at},         {"model", a.model},
            {"action", a.action}, {"client", a.client}, {"reason", a.reason}};
  j["detail"] = a.detail_json.empty() ? json(nullptr) : json::parse(a.detail_json, nullptr, false);
  j["kind"] = a.kind;
  if (a.kind == "access") {
    j["actor_key"] = a.actor_key;
    j["actor_role"] = a.actor_role;
    j["source"] = a.source;
    j["tls_identity"] = a.tls_identity;
    j["resource"] = a.resource;
    j["request_id"] = a.request_id;
    j["decision"] = a.decision;
    j["status"] = a.status;
    j["latency_ms"] = static_cast<double>(a.latency_us) / 1000.0;
  }
  j["hash"] = a.hash;
  return j;
}

std::string error_body(const std::string& message) { return json{{"error", message}}.dump(); }

registry::Actor actor_of(const HttpRequest& request) {
  registry::Actor a = actor_of(request.headers, request.remote);
  if (!request.actor.empty()) a.client += " " + request.actor;
  return a;
}

registry::Actor actor_of(const Headers& headers, const std::string& remote) {
  registry::Actor a;
  auto c = headers.find("x-quiver-client");
  a.client = c != headers.end() && !c->second.empty() ? c->second + " (" + remote + ")" : "api (" + remote + ")";
  if (auto r = headers.find("x-quiver-reason"); r != headers.end()) a.reason = r->second;
  return a;
}

}  // namespace quiver::http
