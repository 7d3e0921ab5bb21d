// A scriptable in-memory Backend for tests of serving, routing and lifecycle.
//
// Signature: input "x" FP32 [-1, 2] -> output "y" FP32 [-1, 2], y = x * factor.
// A distinct factor per version lets a test tell versions apart by their answers.
//
// FakeBackendControl is shared by every instance a loader creates, so a test can
// script behaviour (fail the load, fail or throw in infer, hold infer behind a gate)
// and observe it (infer calls, instances alive, peak concurrency).
//
// Thread-safety: FakeBackendControl may be used from any thread; each FakeBackend
// is used by one thread at a time, as the Backend contract says.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"
#include "serving/servable.h"

namespace quiver::testing {

inline ModelSignature fake_signature() {
  ModelSignature sig;
  sig.inputs.push_back({"x", DataType::kFp32, {-1, 2}});
  sig.outputs.push_back({"y", DataType::kFp32, {-1, 2}});
  return sig;
}

// An FP32 tensor named `name` with shape [rows, 2].
inline Tensor fake_input(std::vector<float> values, std::string name = "x") {
  const auto rows = static_cast<int64_t>(values.size() / 2);
  return Tensor::from_values<float>(std::move(name), DataType::kFp32, {rows, 2}, values);
}

enum class InferFailure { kNone, kReturnError, kThrow };

// A gate that infer() waits at while closed: lets a test hold requests in flight.
class Gate {
 public:
  void close() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // Blocks while closed; counts waiters so a test can wait until N calls arrived.
  void pass() {
    std::unique_lock lock(mu_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
    --waiting_;
  }
  // Waits until `n` callers are held at the gate; false on timeout, so a test that
  // expects parallelism fails instead of hanging when it does not happen.
  bool wait_for_waiters(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return waiting_ >= n; });
  }
  int waiting() const {
    std::lock_guard lock(mu_);
    return waiting_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int waiting_ = 0;
};

struct FakeBackendControl {
  float factor = 1.0f;
  std::atomic<bool> fail_load{false};
  std::atomic<InferFailure> infer_failure{InferFailure::kNone};
  Gate gate;
  // Called at the start of every infer (e.g. to check what is published meanwhile).
  std::function<void()> on_infer;

  std::atomic<int> loads{0};
  std::atomic<int> alive{0};  // instances constructed and not yet destroyed
  std::atomic<int> infer_calls{0};
  std::atomic<int> running{0};
  std::atomic<int> peak_running{0};
};

class FakeBackend final : public backends::Backend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeBackendControl> control)
      : control_(std::move(control)), signature_(fake_signature()) {
    control_->alive.fetch_add(1);
  }
  ~FakeBackend() override { control_->alive.fetch_sub(1); }

  const ModelSignature& signature() const override { return signature_; }

  Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) override {
    control_->infer_calls.fetch_add(1);
    if (control_->on_infer) control_->on_infer();
    const int now = control_->running.fetch_add(1) + 1;
    int peak = control_->peak_running.load();
    while (now > peak && !control_->peak_running.compare_exchange_weak(peak, now)) {
    }
    control_->gate.pass();
    control_->running.fetch_sub(1);

    switch (control_->infer_failure.load()) {
      case InferFailure::kReturnError: return internal_error("fake backend was told to fail");
      case InferFailure::kThrow: throw std::runtime_error("fake backend exploded");
      case InferFailure::kNone: break;
    }
    const Tensor& x = inputs.front();
    std::vector<float> y(x.values<float>().begin(), x.values<float>().end());
    for (float& v : y) v *= control_->factor;
    return std::vector<Tensor>{Tensor::from_values<float>("y", DataType::kFp32, x.shape(), y)};
  }

 private:
  std::shared_ptr<FakeBackendControl> control_;
  ModelSignature signature_;
};

// A loader making FakeBackends that share `control`; DataLoss when told to fail.
inline serving::BackendLoader fake_loader(std::shared_ptr<FakeBackendControl> control) {
  return [control](const backends::LoadRequest&) -> Result<std::unique_ptr<backends::Backend>> {
    control->loads.fetch_add(1);
    if (control->fail_load.load()) return data_loss("fake artifact is corrupt");
    return std::unique_ptr<backends::Backend>(std::make_unique<FakeBackend>(control));
  };
}

// A started servable over FakeBackends; for tests that need an Endpoint.
inline std::shared_ptr<serving::Servable> fake_servable(const std::string& model, int64_t version,
                                                        std::shared_ptr<FakeBackendControl> control,
                                                        int instances = 1, size_t max_queue = 4096) {
  serving::ServableConfig config;
  config.model = model;
  config.version = version;
  config.framework = "onnx";
  config.instances = instances;
  config.max_queue = max_queue;
  auto loaded = serving::Servable::load(config, fake_loader(std::move(control)), nullptr);
  return loaded.is_ok() ? std::move(loaded).value() : nullptr;
}

}  // namespace quiver::testing
