#include "lifecycle/warmup.h"

namespace quiver::lifecycle {

std::optional<std::vector<Tensor>> synthetic_warmup_inputs(const ModelSignature& signature) {
  if (signature.inputs.empty()) return std::nullopt;
  std::vector<Tensor> inputs;
  for (const auto& spec : signature.inputs) {
    if (spec.dtype == DataType::kBytes) return std::nullopt;
    Shape shape = spec.shape;
    for (auto& d : shape)
      if (d < 0) d = 1;
    const auto n = element_count(shape);
    if (!n) return std::nullopt;
    inputs.emplace_back(spec.name, spec.dtype, shape,
                        std::vector<std::byte>(static_cast<size_t>(*n) * datatype_size(spec.dtype)));
  }
  return inputs;
}

}  // namespace quiver::lifecycle
