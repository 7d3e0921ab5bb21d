#include "routing/route_table.h"

#include <charconv>

namespace quiver::routing {

const ModelEntry* RouteTable::find(std::string_view model) const {
  auto it = models.find(model);
  return it == models.end() ? nullptr : &it->second;
}

Result<const ModelRoute*> RouteTable::route_for(std::string_view model) const {
  const ModelEntry* entry = find(model);
  if (!entry) return not_found("unknown model '" + std::string(model) + "'");
  if (!entry->route) {
    if (!entry->pending.empty())
      return unavailable("model '" + std::string(model) + "' is deployed but no version is ready yet");
    return not_found("model '" + std::string(model) + "' has no deployment; deploy it with PUT /v1/deployments/" +
                     std::string(model));
  }
  return entry->route.get();
}

Result<int64_t> RouteTable::resolve_ref(std::string_view model, std::string_view ref) const {
  const ModelEntry* entry = find(model);
  if (!entry) return not_found("unknown model '" + std::string(model) + "'");
  int64_t version = 0;
  auto [end, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), version);
  if (ec == std::errc() && end == ref.data() + ref.size()) {
    if (!entry->registered.count(version))
      return not_found("model '" + std::string(model) + "' has no version " + std::to_string(version));
    return version;
  }
  auto it = entry->aliases.find(ref);
  if (it == entry->aliases.end())
    return not_found("model '" + std::string(model) + "' has no version or alias '" + std::string(ref) + "'");
  return it->second;
}

Result<const Endpoint*> RouteTable::resolve_pinned(std::string_view model, std::string_view ref) const {
  QUIVER_ASSIGN_OR_RETURN(const int64_t version, resolve_ref(model, ref));
  const ModelEntry* entry = find(model);
  if (entry->route)
    if (const Endpoint* e = entry->route->find(version)) return e;
  if (entry->pending.count(version))
    return unavailable("model '" + std::string(model) + "' version " + std::to_string(version) +
                       " is not ready (loading, or failed to load: see GET /v1/deployments/" + std::string(model) +
                       ")");
  return not_found("model '" + std::string(model) + "' version " + std::to_string(version) +
                   " is registered but not deployed");
}

}  // namespace quiver::routing
