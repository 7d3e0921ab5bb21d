// GET /ui and /ui/{path}: the web console, served from the bytes embedded in the
// binary (ui_assets.h). Public static content, like a login page: every piece of data
// the console shows comes from the JSON API, which checks the caller's token.
//
// Responses carry a strong ETag (a hash of the bytes) with Cache-Control: no-cache, so
// a browser revalidates and gets 304 until the binary changes, and a strict
// Content-Security-Policy: only this origin's own script, style and API calls, no
// inline code, no framing.
#include <algorithm>

#include "api/http/api_context.h"
#include "api/http/http_server.h"
#include "api/http/ui_assets.h"

namespace quiver::http {
namespace {

constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const UiAsset* find_asset(std::string_view name) {
  const auto assets = ui_assets();
  const auto it = std::find_if(assets.begin(), assets.end(), [&](const UiAsset& a) { return a.name == name; });
  return it == assets.end() ? nullptr : &*it;
}

// An If-None-Match list ("a", "b" or *) that names this ETag.
bool matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match.empty()) return false;
  if (if_none_match == "*") return true;
  size_t at = 0;
  while (at < if_none_match.size()) {
    size_t end = if_none_match.find(',', at);
    if (end == std::string_view::npos) end = if_none_match.size();
    std::string_view item = if_none_match.substr(at, end - at);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);  // weak comparison, as RFC 9110 asks for GET
    if (item == etag) return true;
    at = end + 1;
  }
  return false;
}

HttpResponse serve(const HttpRequest& req, std::string_view name) {
  const UiAsset* asset = find_asset(name);
  if (asset == nullptr) return HttpResponse::error(not_found("no console file '" + std::string(name) + "'"));
  HttpResponse resp;
  resp.headers.emplace_back("ETag", std::string(asset->etag));
  resp.headers.emplace_back("Cache-Control", "no-cache");
  resp.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  resp.headers.emplace_back("X-Content-Type-Options", "nosniff");
  resp.headers.emplace_back("Referrer-Policy", "no-referrer");
  resp.headers.emplace_back("X-Frame-Options", "DENY");
  resp.content_type = std::string(asset->content_type);
  if (matches(req.header("if-none-match"), asset->etag)) {
    resp.status = 304;
    return resp;
  }
  resp.body = std::string(asset->body);
  return resp;
}

}  // namespace

void register_ui_routes(HttpServer& server) {
  server.route("GET", "/ui", [](const auto& req, Responder respond) { respond(serve(*req, "index.html")); });
  server.route("GET", "/ui/{path}", [](const auto& req, Responder respond) {
    const std::string& name = req->path_params.at("path");
    respond(serve(*req, name.empty() ? "index.html" : name));
  });
}

}  // namespace quiver::http
