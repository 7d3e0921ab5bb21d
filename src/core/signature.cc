#include "core/signature.h"

namespace quiver {

bool shape_matches(const Shape& pattern, const Shape& shape) {
  if (pattern.size() != shape.size()) return false;
  for (size_t i = 0; i < shape.size(); ++i)
    if (pattern[i] >= 0 && pattern[i] != shape[i]) return false;
  return true;
}

Status check_inputs(const ModelSignature& signature, const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs) QUIVER_RETURN_IF_ERROR(t.validate());
  if (signature.inputs.empty()) return Status::ok();

  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t j = i + 1; j < inputs.size(); ++j)
      if (inputs[i].name() == inputs[j].name())
        return invalid_argument("input '" + inputs[i].name() + "' is given twice");

  for (const Tensor& t : inputs) {
    const TensorSpec* spec = nullptr;
    for (const auto& s : signature.inputs)
      if (s.name == t.name()) spec = &s;
    if (!spec) {
      std::string names;
      for (const auto& s : signature.inputs) names += (names.empty() ? "'" : ", '") + s.name + "'";
      return invalid_argument("unexpected input '" + t.name() + "'; the model takes " + names);
    }
    if (spec->dtype != t.dtype())
      return invalid_argument("input '" + t.name() + "' has datatype " + std::string(datatype_name(t.dtype())) +
                              " but the model expects " + std::string(datatype_name(spec->dtype)));
    if (!shape_matches(spec->shape, t.shape()))
      return invalid_argument("input '" + t.name() + "' has shape " + shape_to_string(t.shape()) +
                              " but the model expects " + shape_to_string(spec->shape) +
                              " (-1 is any size)");
  }
  for (const auto& s : signature.inputs) {
    bool found = false;
    for (const Tensor& t : inputs) found = found || t.name() == s.name;
    if (!found) return invalid_argument("missing input '" + s.name + "'");
  }
  return Status::ok();
}

}  // namespace quiver
