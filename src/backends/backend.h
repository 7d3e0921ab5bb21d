// Backend: one loaded instance of a model in one runtime.
//
// Made for batches: infer() takes whole tensors whose first dimension may be a batch
// of rows merged by the dynamic batcher, and must answer row for row. The interface
// carries only core types (Tensor, Status), so that the out-of-process worker
// (backends/process) implements it by forwarding over a socket.
//
// Thread-safety: an instance is used by one thread at a time; a servable owns a pool
// of instances to run requests in parallel.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::backends {

struct LoadRequest {
  std::string framework;                // "torchscript" | "onnx"
  std::filesystem::path artifact_path;  // a verified blob
  // The signature given at registration. ONNX carries its own, which is used and
  // checked against this one when both are present; TorchScript relies on this one.
  ModelSignature declared;
  int intra_op_threads = 1;
  // Run the instance in its own worker process (backends/process): a crash or an
  // out-of-memory there takes down only this instance, which restarts by itself.
  bool isolated = false;
  // Per worker process, on its data segment (RLIMIT_DATA); 0: no limit. Only with isolated.
  int64_t memory_limit_mb = 0;
  // Names the instance in messages, e.g. "model 'iris' version 2".
  std::string label = {};
  // Only with isolated: the longest one infer() may wait for the worker process; then
  // it fails with DeadlineExceeded and the worker is killed (SIGKILL) and restarted.
  // 0: no limit.
  int64_t worker_timeout_ms = 0;
  // Only with isolated: told each time a worker process died and is being restarted,
  // with why: "timeout" (killed for not answering in time), "crash" (it died), or
  // "error" (it answered nonsense and was let go). Called on the worker's monitor
  // thread; must not block. Not sent to the worker.
  std::function<void(const std::string& reason)> on_worker_restart = {};
};

class Backend {
 public:
  virtual ~Backend() = default;
  // The effective signature: from the model when the format carries it, otherwise
  // the declared one.
  virtual const ModelSignature& signature() const = 0;
  // `inputs` have already passed check_inputs(signature(), inputs). Returns the
  // outputs named as in signature().outputs (or output__0, output__1, ... when the
  // signature names none). Runtime exceptions become InternalError with the message.
  virtual Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) = 0;
};

// Loads one instance. InvalidArgument for an unknown framework; DataLoss when the
// artifact cannot be parsed by the runtime (corrupt or the wrong framework).
Result<std::unique_ptr<Backend>> load_backend(const LoadRequest& request);

// "pytorch_torchscript", "onnx_opencv_dnn": the platform string of model metadata.
std::string platform_name(const std::string& framework);
bool is_known_framework(const std::string& framework);

}  // namespace quiver::backends
