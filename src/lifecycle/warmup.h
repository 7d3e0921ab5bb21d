// Warmup inputs: a version runs these before it takes traffic, so the first user
// request does not pay for lazy initialisation inside the runtime.
#pragma once

#include <optional>
#include <vector>

#include "core/signature.h"
#include "core/tensor.h"

namespace quiver::lifecycle {

// Zero-filled inputs of batch size 1 (every -1 dimension becomes 1); nullopt when the
// signature declares no inputs or has a BYTES input (no meaningful default).
std::optional<std::vector<Tensor>> synthetic_warmup_inputs(const ModelSignature& signature);

}  // namespace quiver::lifecycle
