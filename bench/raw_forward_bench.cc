// In-process forward rate of the example TorchScript models through the same
// Backend the server runs (backends::load_backend, intra-op threads as the server
// uses by default): the compute limit that served throughput is compared with, and
// the forward latency that server overhead is measured against.
//
// Models come from $QUIVER_BENCH_MODELS (default examples/models), as written by
// scripts/make_example_models.py. Counters: rows_per_s (batch rows per second of
// wall time), p50_us and p99_us (exact, over every timed call).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"

namespace {

using quiver::DataType;
using quiver::Tensor;

// The server's default (ServeOptions::intra_op_threads).
constexpr int kIntraOpThreads = 1;
// TorchScript's profiling executor optimises the graph over the first runs; the
// server warms up too before a version is ready.
constexpr int kWarmupCalls = 20;

struct ModelInfo {
  const char* file;
  const char* input;
  int64_t width;
  const char* output;
  int64_t classes;
};

const std::map<std::string, ModelInfo>& models() {
  static const std::map<std::string, ModelInfo> table{
      {"iris", {"iris_v1.pt", "input", 4, "probabilities", 3}},
      {"wide", {"wide_v1.pt", "input", 32, "logits", 10}},
  };
  return table;
}

std::filesystem::path model_dir() {
  const char* dir = std::getenv("QUIVER_BENCH_MODELS");
  return dir != nullptr ? dir : "examples/models";
}

void BM_RawForward(benchmark::State& state, const std::string& family) {
  const ModelInfo& info = models().at(family);
  const int64_t batch = state.range(0);
  quiver::backends::LoadRequest request;
  request.framework = "torchscript";
  request.artifact_path = model_dir() / info.file;
  request.declared.inputs = {{info.input, DataType::kFp32, {-1, info.width}}};
  request.declared.outputs = {{info.output, DataType::kFp32, {-1, info.classes}}};
  request.intra_op_threads = kIntraOpThreads;
  request.label = family;
  auto backend = quiver::backends::load_backend(request);
  if (!backend.is_ok()) {
    state.SkipWithError(backend.status().message().c_str());
    return;
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(batch * info.width));
  for (auto& v : values) v = dist(rng);
  const std::vector<Tensor> inputs{Tensor::from_values<float>(info.input, DataType::kFp32, {batch, info.width}, values)};
  for (int i = 0; i < kWarmupCalls; ++i) (void)(*backend)->infer(inputs);

  std::vector<int64_t> latencies;
  latencies.reserve(1 << 16);
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto outputs = (*backend)->infer(inputs);
    latencies.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
    if (!outputs.is_ok()) {
      state.SkipWithError(outputs.status().message().c_str());
      break;
    }
    benchmark::DoNotOptimize(outputs);
  }
  if (latencies.empty()) return;
  std::sort(latencies.begin(), latencies.end());
  const auto at = [&](double p) {
    const auto rank = static_cast<size_t>(std::max(1.0, std::ceil(p * static_cast<double>(latencies.size()))));
    return static_cast<double>(latencies[std::min(rank, latencies.size()) - 1]) / 1e3;
  };
  state.counters["rows_per_s"] = benchmark::Counter(static_cast<double>(state.iterations() * batch),
                                                    benchmark::Counter::kIsRate);
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
}

BENCHMARK_CAPTURE(BM_RawForward, wide, std::string("wide"))->Arg(1)->Arg(32)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_RawForward, iris, std::string("iris"))->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
