#include "api/http/route_table.h"

#include <algorithm>
#include <set>

namespace quiver::http {
namespace {

// "/a/b/" -> {"a", "b"}; "/" -> {}. One trailing slash is ignored so that "/v2/"
// reaches the same route as "/v2".
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return parts;
  while (true) {
    const size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

}  // namespace

Status RouteTable::add(std::string method, std::string_view pattern, RouteTarget target) {
  const std::string context = "route " + method + " " + std::string(pattern);
  if (method.empty()) return invalid_argument(context + ": empty method");
  if (pattern.empty() || pattern.front() != '/') {
    return invalid_argument(context + ": the pattern must start with '/'");
  }
  Route route{std::move(method), {}, std::move(target)};
  std::set<std::string_view> names;
  for (std::string_view part : split_path(pattern)) {
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      std::string_view name = part.substr(1, part.size() - 2);
      if (name.empty() || !names.insert(name).second) {
        return invalid_argument(context + ": empty or repeated parameter name");
      }
      route.segments.push_back({std::string(name), true});
    } else {
      if (part.find_first_of("{}") != std::string_view::npos) {
        return invalid_argument(context + ": a parameter must fill a whole segment");
      }
      route.segments.push_back({std::string(part), false});
    }
  }
  for (const Route& existing : routes_) {
    if (existing.method != route.method || existing.segments.size() != route.segments.size()) continue;
    const bool same_shape = std::equal(
        existing.segments.begin(), existing.segments.end(), route.segments.begin(),
        [](const Segment& a, const Segment& b) {
          return a.is_param == b.is_param && (a.is_param || a.text == b.text);
        });
    if (same_shape) return already_exists(context + ": already registered");
  }
  routes_.push_back(std::move(route));
  return Status::ok();
}

Result<RouteMatch> RouteTable::match(std::string_view method, std::string_view raw_path) const {
  std::vector<std::string> segments;
  for (std::string_view part : split_path(raw_path)) {
    QUIVER_ASSIGN_OR_RETURN(std::string decoded, percent_decode(part, false));
    segments.push_back(std::move(decoded));
  }

  const Route* best = nullptr;
  std::set<std::string> path_methods;
  // True when `a` is more specific than `b`: at the first segment where one is a
  // literal and the other a parameter, the literal wins.
  const auto more_specific = [](const Route& a, const Route& b) {
    for (size_t i = 0; i < a.segments.size(); ++i) {
      if (a.segments[i].is_param != b.segments[i].is_param) return !a.segments[i].is_param;
    }
    return false;
  };
  for (const Route& route : routes_) {
    if (route.segments.size() != segments.size()) continue;
    bool fits = true;
    for (size_t i = 0; i < segments.size() && fits; ++i) {
      fits = route.segments[i].is_param || route.segments[i].text == segments[i];
    }
    if (!fits) continue;
    path_methods.insert(route.method);
    if (route.method == method && (best == nullptr || more_specific(route, *best))) best = &route;
  }

  RouteMatch result;
  if (best != nullptr) {
    result.kind = RouteMatch::Kind::kFound;
    result.target = &best->target;
    for (const Segment& segment : best->segments) {
      result.pattern += '/';
      result.pattern += segment.is_param ? "{" + segment.text + "}" : segment.text;
    }
    if (result.pattern.empty()) result.pattern = "/";
    for (size_t i = 0; i < segments.size(); ++i) {
      if (best->segments[i].is_param) result.path_params[best->segments[i].text] = segments[i];
    }
  } else if (!path_methods.empty()) {
    result.kind = RouteMatch::Kind::kWrongMethod;
    for (const std::string& m : path_methods) {
      if (!result.allowed_methods.empty()) result.allowed_methods += ", ";
      result.allowed_methods += m;
    }
  }
  return result;
}

}  // namespace quiver::http
