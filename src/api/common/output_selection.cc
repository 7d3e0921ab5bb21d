#include "api/common/output_selection.h"

namespace quiver::api {

Status select_outputs(const std::vector<RequestedOutput>& requested, std::vector<Tensor>& outputs) {
  if (requested.empty()) return Status::ok();
  std::vector<Tensor> selected;
  selected.reserve(requested.size());
  for (const auto& want : requested) {
    bool already = false;
    for (const auto& s : selected) already = already || s.name() == want.name;
    if (already) continue;
    const Tensor* found = nullptr;
    for (const auto& t : outputs)
      if (t.name() == want.name) found = &t;
    if (!found) {
      std::string names;
      for (const auto& t : outputs) names += (names.empty() ? "'" : ", '") + t.name() + "'";
      return invalid_argument("unknown output '" + want.name + "'; the model has " +
                              (names.empty() ? std::string("no outputs") : names));
    }
    selected.push_back(*found);
  }
  outputs = std::move(selected);
  return Status::ok();
}

}  // namespace quiver::api
