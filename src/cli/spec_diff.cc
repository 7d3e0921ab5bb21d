#include "cli/spec_diff.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cli/text_table.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

// Sections listed in this order first; any other keys follow alphabetically.
const std::vector<std::string> kKnownSections = {"versions", "traffic", "sticky", "rules", "shadow"};
// Sections whose entries are identified by their "version".
const std::set<std::string, std::less<>> kKeyedSections = {"versions", "traffic", "shadow"};
const std::set<std::string, std::less<>> kNotSpec = {"model", "revision", "status"};

// Versions compare by text everywhere (3 and "3" are one version).
json normalize(const json& value) {
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(normalize(item));
    return out;
  }
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [key, item] : value.items()) {
    out[key] = (key == "version" && item.is_number()) ? json(version_text(item)) : normalize(item);
  }
  return out;
}

std::string value_text(const json* value) {
  if (value == nullptr || value->is_null()) return "none";
  if (value->is_string()) return value->get<std::string>();
  return value->dump();
}

bool all_entries_have_versions(const json& list) {
  return std::all_of(list.begin(), list.end(),
                     [](const json& e) { return e.is_object() && e.contains("version"); });
}

// "instances 2, weight 10": an entry's fields other than its version.
std::string describe_entry(const json& entry) {
  std::string out;
  for (const auto& [key, value] : entry.items()) {
    if (key == "version") continue;
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {}", key, value_text(&value));
  }
  return out;
}

std::string with_details(std::string head, const json& entry) {
  const std::string details = describe_entry(entry);
  return details.empty() ? head : fmt::format("{} ({})", head, details);
}

std::string join_versions(const std::vector<std::string>& versions) {
  return versions.empty() ? "none" : fmt::format("{}", fmt::join(versions, ", "));
}

// A list of {"version": ..., ...} entries: added, removed and changed versions.
void diff_keyed(const std::string& section, const json& before, const json& after,
                std::vector<std::string>& out) {
  std::vector<std::string> order_before;
  std::vector<std::string> order_after;
  std::map<std::string, const json*> old_entries;
  std::map<std::string, const json*> new_entries;
  for (const auto& e : before) {
    order_before.push_back(version_text(e["version"]));
    old_entries.emplace(order_before.back(), &e);
  }
  for (const auto& e : after) {
    order_after.push_back(version_text(e["version"]));
    new_entries.emplace(order_after.back(), &e);
  }

  for (const auto& v : order_before) {
    if (!new_entries.count(v)) out.push_back(with_details(fmt::format("{}: - {}", section, v), *old_entries[v]));
  }
  for (const auto& v : order_after) {
    const json& now = *new_entries[v];
    const auto old = old_entries.find(v);
    if (old == old_entries.end()) {
      out.push_back(with_details(fmt::format("{}: + {}", section, v), now));
      continue;
    }
    std::set<std::string> keys;
    for (const auto& [key, unused] : old->second->items()) keys.insert(key);
    for (const auto& [key, unused] : now.items()) keys.insert(key);
    for (const auto& key : keys) {
      if (key == "version") continue;
      const json* was = field(*old->second, key);
      const json* is = field(now, key);
      if (was != nullptr && is != nullptr && *was == *is) continue;
      out.push_back(fmt::format("{}: {} {} {} -> {}", section, v, key, value_text(was), value_text(is)));
    }
  }

  // Order matters for versions: with no traffic list, the first one takes all traffic.
  std::vector<std::string> kept_before;
  std::vector<std::string> kept_after;
  for (const auto& v : order_before) if (new_entries.count(v)) kept_before.push_back(v);
  for (const auto& v : order_after) if (old_entries.count(v)) kept_after.push_back(v);
  if (section == "versions" && kept_before != kept_after) {
    out.push_back(fmt::format("{}: order {} -> {}", section, join_versions(order_before),
                              join_versions(order_after)));
  }
}

// Any other list: entries removed and added (as compact JSON), or a new order.
void diff_list(const std::string& section, const json& before, const json& after,
               std::vector<std::string>& out) {
  std::multiset<std::string> old_items;
  std::multiset<std::string> new_items;
  for (const auto& e : before) old_items.insert(e.dump());
  for (const auto& e : after) new_items.insert(e.dump());
  bool changed_items = false;
  for (const auto& e : before) {
    const auto it = new_items.find(e.dump());
    if (it != new_items.end()) {
      new_items.erase(it);
    } else {
      out.push_back(fmt::format("{}: - {}", section, e.dump()));
      changed_items = true;
    }
  }
  for (const auto& e : after) {
    const auto it = old_items.find(e.dump());
    if (it != old_items.end()) {
      old_items.erase(it);
    } else {
      out.push_back(fmt::format("{}: + {}", section, e.dump()));
      changed_items = true;
    }
  }
  // Rules are tried in order, so a reordering alone changes routing.
  if (!changed_items && before != after) out.push_back(fmt::format("{}: order changed", section));
}

void diff_section(const std::string& section, const json* before, const json* after,
                  std::vector<std::string>& out) {
  static const json kEmpty = json::array();
  const bool lists = (before == nullptr || before->is_array()) && (after == nullptr || after->is_array()) &&
                     (before != nullptr || after != nullptr);
  if (lists) {
    const json& b = before != nullptr ? *before : kEmpty;
    const json& a = after != nullptr ? *after : kEmpty;
    if (b == a) return;
    if (kKeyedSections.count(section) && all_entries_have_versions(b) && all_entries_have_versions(a)) {
      diff_keyed(section, b, a, out);
    } else {
      diff_list(section, b, a, out);
    }
    return;
  }
  const bool same = (before == nullptr || before->is_null()) ? (after == nullptr || after->is_null())
                                                             : (after != nullptr && *before == *after);
  if (!same) out.push_back(fmt::format("{}: {} -> {}", section, value_text(before), value_text(after)));
}

}  // namespace

std::vector<std::string> diff_specs(const nlohmann::json& current, const nlohmann::json& proposed) {
  const json before = current.is_object() ? normalize(current) : json::object();
  const json after = proposed.is_object() ? normalize(proposed) : json::object();

  std::vector<std::string> sections = kKnownSections;
  std::set<std::string> others;
  for (const auto& [key, unused] : before.items()) others.insert(key);
  for (const auto& [key, unused] : after.items()) others.insert(key);
  for (const auto& key : others) {
    if (std::find(sections.begin(), sections.end(), key) == sections.end() && !kNotSpec.count(key)) {
      sections.push_back(key);
    }
  }

  std::vector<std::string> lines;
  for (const auto& section : sections) diff_section(section, field(before, section), field(after, section), lines);
  return lines;
}

std::string render_dry_run(const std::string& model, const nlohmann::json& current,
                           const nlohmann::json& proposed) {
  const auto lines = diff_specs(current, proposed);
  const bool creating = !current.is_object();
  std::string out;
  if (lines.empty()) {
    return fmt::format("dry run: applying this spec would not change deployment '{}'\n", model);
  }
  out = creating ? fmt::format("dry run: would create deployment '{}':\n", model)
                 : fmt::format("dry run: would change deployment '{}' ({} change{}):\n", model,
                               lines.size(), lines.size() == 1 ? "" : "s");
  for (const auto& line : lines) out += fmt::format("  {}\n", line);
  out += "nothing was applied\n";
  return out;
}

}  // namespace quiver::cli
