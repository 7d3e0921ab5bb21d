// Name rules for models and aliases (registry.h). They appear in URL paths, metric
// labels and file names, so the alphabet is kept to characters safe in all three.
#include <algorithm>
#include <string>

#include "registry/registry.h"

namespace quiver::registry {
namespace {

constexpr size_t kMaxNameLength = 128;

Status validate_name(const std::string& name, const char* what) {
  if (name.empty()) return invalid_argument(std::string(what) + " name must not be empty");
  if (name.size() > kMaxNameLength)
    return invalid_argument(std::string(what) + " name '" + name.substr(0, 32) + "...' is longer than " +
                            std::to_string(kMaxNameLength) + " characters");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok)
      return invalid_argument(std::string(what) + " name '" + name +
                              "' may contain only letters, digits, '_', '.' and '-'");
  }
  if (name.front() == '.' || name.front() == '-')
    return invalid_argument(std::string(what) + " name '" + name + "' must not start with '.' or '-'");
  return Status::ok();
}

}  // namespace

Status validate_model_name(const std::string& name) { return validate_name(name, "model"); }

Status validate_alias_name(const std::string& alias) {
  QUIVER_RETURN_IF_ERROR(validate_name(alias, "alias"));
  if (std::all_of(alias.begin(), alias.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return invalid_argument("alias name '" + alias + "' must not be all digits (it would read as a version number)");
  return Status::ok();
}

}  // namespace quiver::registry
