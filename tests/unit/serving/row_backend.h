// A Backend for batching and deadline tests: it answers row by row, so a test can
// tell whether each caller got exactly its own rows back, and it records every call
// it sees (rows per call, the input values) so a test can tell what was batched.
//
// Signature: input "x" FP32 [-1, -1] -> outputs "y" FP32 [-1, -1] with
// y = 2x + 1 elementwise, and "sum" FP32 [-1] with each row's sum of x.
// The variable second dimension lets tests send shapes that must not be batched.
//
// Thread-safety: RowBackendLog may be used from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/backend.h"
#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::testing {

inline float row_output(float x) { return 2 * x + 1; }

struct RowBackendLog {
  testing::Gate gate;                // infer waits here while closed
  std::atomic<bool> bad_rows{false};  // answer one row too many: the batch cannot be split
  std::mutex mu;
  std::vector<int64_t> rows_per_call;    // guarded by mu
  std::vector<Shape> shapes_per_call;    // guarded by mu
  std::vector<float> values_seen;        // every input value of every call, guarded by mu

  std::vector<int64_t> rows() {
    std::lock_guard lock(mu);
    return rows_per_call;
  }
  std::vector<Shape> shapes() {
    std::lock_guard lock(mu);
    return shapes_per_call;
  }
  std::vector<float> values() {
    std::lock_guard lock(mu);
    return values_seen;
  }
};

class RowBackend final : public backends::Backend {
 public:
  explicit RowBackend(std::shared_ptr<RowBackendLog> log) : log_(std::move(log)) {
    signature_.inputs.push_back({"x", DataType::kFp32, {-1, -1}});
    signature_.outputs.push_back({"y", DataType::kFp32, {-1, -1}});
    signature_.outputs.push_back({"sum", DataType::kFp32, {-1}});
  }
  const ModelSignature& signature() const override { return signature_; }

  Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) override {
    const Tensor& x = inputs.front();
    {
      std::lock_guard lock(log_->mu);
      log_->rows_per_call.push_back(x.shape()[0]);
      log_->shapes_per_call.push_back(x.shape());
      log_->values_seen.insert(log_->values_seen.end(), x.values<float>().begin(), x.values<float>().end());
    }
    log_->gate.pass();
    const int64_t rows = x.shape()[0] + (log_->bad_rows ? 1 : 0);
    const int64_t width = x.shape()[1];
    std::vector<float> y(static_cast<size_t>(rows * width), 0.0f);
    std::vector<float> sum(static_cast<size_t>(rows), 0.0f);
    const auto in = x.values<float>();
    for (size_t i = 0; i < in.size(); ++i) {
      y[i] = row_output(in[i]);
      sum[i / static_cast<size_t>(width)] += in[i];
    }
    return std::vector<Tensor>{Tensor::from_values<float>("y", DataType::kFp32, {rows, width}, y),
                               Tensor::from_values<float>("sum", DataType::kFp32, {rows}, sum)};
  }

 private:
  std::shared_ptr<RowBackendLog> log_;
  ModelSignature signature_;
};

inline serving::BackendLoader row_loader(std::shared_ptr<RowBackendLog> log) {
  return [log](const backends::LoadRequest&) -> Result<std::unique_ptr<backends::Backend>> {
    return std::unique_ptr<backends::Backend>(std::make_unique<RowBackend>(log));
  };
}

// An FP32 input "x" of shape [rows, width] holding first, first+1, first+2, ...
inline Tensor row_input(int64_t rows, int64_t width, float first) {
  std::vector<float> v(static_cast<size_t>(rows * width));
  for (size_t i = 0; i < v.size(); ++i) v[i] = first + static_cast<float>(i);
  return Tensor::from_values<float>("x", DataType::kFp32, {rows, width}, v);
}

// Collects the answers of submit() calls, each by the index the test gave it.
class Answers {
 public:
  serving::InferDone callback(size_t index) {
    std::lock_guard lock(mu_);
    if (results_.size() <= index) {
      results_.resize(index + 1, internal_error("never answered"));
      calls_.resize(index + 1, 0);
    }
    return [this, index](Result<std::vector<Tensor>> r) {
      // Notifies under the lock: a test may destroy this object as soon as its wait
      // returns, which must not happen while a worker still touches the condvar.
      std::lock_guard inner(mu_);
      results_[index] = std::move(r);
      ++calls_[index];
      ++answered_;
      cv_.notify_all();
    };
  }
  // False when `n` answers did not arrive within the timeout (the test fails, not hangs).
  bool wait_for(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return answered_ >= n; });
  }
  Result<std::vector<Tensor>> result(size_t i) {
    std::lock_guard lock(mu_);
    return results_[i];
  }
  int calls(size_t i) {
    std::lock_guard lock(mu_);
    return calls_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Result<std::vector<Tensor>>> results_;
  std::vector<int> calls_;
  int answered_ = 0;
};

}  // namespace quiver::testing
