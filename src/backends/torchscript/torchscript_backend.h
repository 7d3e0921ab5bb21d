// The TorchScript backend: runs a scripted or traced PyTorch module with libtorch.
//
// This header deliberately includes no torch header (they are large and slow to
// compile), so that only backends/torchscript/*.cc see libtorch.
//
// What it serves:
//   - A TorchScript file does not carry a usable signature, so the declared one is
//     the effective one. Inputs go to forward() positionally in the order of the
//     declared inputs (matched by name); with no declared inputs, in the order given.
//   - forward() may return a tensor, a tuple or list of tensors, or a dict of
//     str -> tensor. Outputs are named by the declared outputs in order, by the dict
//     keys, or output__0, output__1, ... when nothing names them.
//   - An output comes back in the dtype the model computed, even when the declared
//     signature says another (the declared one is documentation, not a cast).
//   - All numeric dtypes torch knows and BOOL; torch 1.13 has no UINT16/32/64.
//
// Thread-safety: an instance is used by one thread at a time (Backend's contract);
// loading is safe from several threads. libtorch's intra-op thread count is
// process-wide: the first load sets it from LoadRequest::intra_op_threads and later
// loads leave it alone.
#pragma once

#include <memory>

#include "backends/backend.h"

namespace quiver::backends {

// DataLoss "artifact is not a loadable TorchScript module: ..." when libtorch cannot
// load the file; InvalidArgument when the declared inputs cannot match forward()'s
// parameters or use a dtype torch lacks; NotFound when the file does not exist.
Result<std::unique_ptr<Backend>> load_torchscript(const LoadRequest& request);

}  // namespace quiver::backends
