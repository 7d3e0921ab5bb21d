// A backend for worker-process tests that hangs on demand: framework "test-hang".
// Its infer() echoes `input` as `output`, except when the first value is 1000 or more:
// then it never returns (a model stuck in a loop). The process tests' binary is also
// their worker, and its worker loader (test_worker_loader) knows this framework.
#pragma once

#include <unistd.h>

#include <cstring>
#include <memory>
#include <vector>

#include "backends/backend.h"

namespace quiver::testing {

inline constexpr float kHangTrigger = 1000.0f;

class HangOnTriggerBackend final : public backends::Backend {
 public:
  const ModelSignature& signature() const override { return signature_; }
  Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) override {
    const Tensor& x = inputs.at(0);
    float first = 0;
    if (x.byte_size() >= sizeof first) std::memcpy(&first, x.bytes().data(), sizeof first);
    if (first >= kHangTrigger) {
      for (;;) ::pause();  // hangs until killed
    }
    return std::vector<Tensor>{
        Tensor("output", x.dtype(), x.shape(), std::vector<std::byte>(x.bytes().begin(), x.bytes().end()))};
  }

 private:
  ModelSignature signature_{{{"input", DataType::kFp32, {-1, 4}}}, {{"output", DataType::kFp32, {-1, 4}}}};
};

inline Result<std::unique_ptr<backends::Backend>> test_worker_loader(const backends::LoadRequest& request) {
  if (request.framework == "test-hang") return std::unique_ptr<backends::Backend>(new HangOnTriggerBackend());
  return backends::load_backend(request);
}

}  // namespace quiver::testing
