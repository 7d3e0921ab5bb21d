// Throughput of the Open Inference Protocol JSON codec on a 1 MB FP32 request
// (262,144 floats), the shape of a typical image or embedding batch.
#include <benchmark/benchmark.h>

#include <random>

#include "api/http/oip_codec.h"

namespace {

using quiver::DataType;
using quiver::Tensor;

std::vector<Tensor> one_megabyte_fp32() {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> values(256 * 1024);
  for (auto& v : values) v = dist(rng);
  return {Tensor::from_values<float>("input", DataType::kFp32, {256, 1024}, values)};
}

std::shared_ptr<const std::string> json_request_body() {
  quiver::http::InferRequestData req;
  req.id = "bench";
  req.inputs = one_megabyte_fp32();
  return std::make_shared<const std::string>(quiver::http::encode_infer_request(req, false).body);
}

void BM_ParseFp32Json(benchmark::State& state) {
  const auto body = json_request_body();
  for (auto _ : state) {
    auto r = quiver::http::parse_infer_request(body, std::nullopt);
    if (!r.is_ok()) state.SkipWithError(r.status().message().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body->size()));
  state.counters["body_bytes"] = static_cast<double>(body->size());
}
BENCHMARK(BM_ParseFp32Json)->Unit(benchmark::kMillisecond);

void BM_EncodeFp32Json(benchmark::State& state) {
  const auto outputs = one_megabyte_fp32();
  size_t size = 0;
  for (auto _ : state) {
    auto enc = quiver::http::encode_infer_response("model", "1", "bench", outputs, {}, false);
    size = enc.body.size();
    benchmark::DoNotOptimize(enc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
  state.counters["body_bytes"] = static_cast<double>(size);
}
BENCHMARK(BM_EncodeFp32Json)->Unit(benchmark::kMillisecond);

// The binary extension skips number text entirely: the floor the JSON path is measured against.
void BM_ParseFp32Binary(benchmark::State& state) {
  quiver::http::InferRequestData req;
  req.inputs = one_megabyte_fp32();
  const auto enc = quiver::http::encode_infer_request(req, true);
  const auto body = std::make_shared<const std::string>(enc.body);
  for (auto _ : state) {
    auto r = quiver::http::parse_infer_request(body, enc.json_length);
    if (!r.is_ok()) state.SkipWithError(r.status().message().c_str());
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body->size()));
}
BENCHMARK(BM_ParseFp32Binary)->Unit(benchmark::kMicrosecond);

}  // namespace
