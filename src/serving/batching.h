// Tensor helpers of the dynamic batcher: which requests may share one backend call,
// how their inputs are merged along the first dimension, and how the batch's outputs
// are handed back to each request.
//
// A request is *batchable* when every input has a fixed-size dtype (not BYTES), a
// rank of at least 1, and the same first dimension (its row count). Two batchable
// requests are *compatible* when they carry the same input names in the same order,
// with equal dtypes and equal shapes beyond the first dimension.
//
// Thread-safety: pure functions over immutable tensors; callable from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quiver::serving {

// The request's row count when it is batchable, otherwise nullopt (it runs alone).
std::optional<int64_t> batch_rows(const std::vector<Tensor>& inputs);

// Whether two batchable requests may be concatenated (see the file comment).
bool compatible_for_batching(const std::vector<Tensor>& a, const std::vector<Tensor>& b);

// Concatenates each input of `requests` along dim 0: one buffer per input, filled
// with one memcpy per request. Preconditions: `requests` is not empty and its
// members are batchable and pairwise compatible; InvalidArgument otherwise.
Result<std::vector<Tensor>> concat_rows(std::span<const std::vector<Tensor>* const> requests);

// Splits every output of a batch back into one output list per request, `rows[i]`
// rows for request i, in order. The parts view the batch's bytes (no copy) and keep
// them alive. Internal error when an output does not have sum(rows) rows in dim 0,
// because then the model's answer cannot be attributed to requests.
Result<std::vector<std::vector<Tensor>>> split_rows(const std::vector<Tensor>& outputs,
                                                    std::span<const int64_t> rows);

}  // namespace quiver::serving
