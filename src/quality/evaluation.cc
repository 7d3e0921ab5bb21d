#include "quality/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <future>
#include <limits>
#include <optional>
#include <type_traits>

#include "quality/prediction.h"

namespace quiver::quality {
namespace {

// Appends values as T; false when a value does not fit an integer T (no truncation).
template <typename T>
bool append_as(std::vector<std::byte>& out, const float* values, size_t n) {
  const size_t at = out.size();
  out.resize(at + n * sizeof(T));
  for (size_t i = 0; i < n; ++i) {
    const double d = values[i];
    if constexpr (std::is_integral_v<T>) {
      // 2^digits (2^63, 2^64, ...) is an exact double: compare with it, not with max().
      const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);
      const double lo = std::is_signed_v<T> ? -hi : 0.0;
      if (!(d >= lo && d < hi) || d != std::floor(d)) return false;
    }
    const T v = static_cast<T>(d);
    std::memcpy(out.data() + at + i * sizeof(T), &v, sizeof(T));
  }
  return true;
}

Status convert(DataType dtype, const float* values, size_t n, std::vector<std::byte>& out, const std::string& name) {
  bool ok = true;
  switch (dtype) {
    case DataType::kFp32: ok = append_as<float>(out, values, n); break;
    case DataType::kFp64: ok = append_as<double>(out, values, n); break;
    case DataType::kInt8: ok = append_as<int8_t>(out, values, n); break;
    case DataType::kInt16: ok = append_as<int16_t>(out, values, n); break;
    case DataType::kInt32: ok = append_as<int32_t>(out, values, n); break;
    case DataType::kInt64: ok = append_as<int64_t>(out, values, n); break;
    case DataType::kUint8: ok = append_as<uint8_t>(out, values, n); break;
    case DataType::kUint16: ok = append_as<uint16_t>(out, values, n); break;
    case DataType::kUint32: ok = append_as<uint32_t>(out, values, n); break;
    case DataType::kUint64: ok = append_as<uint64_t>(out, values, n); break;
    case DataType::kBool:
      for (size_t i = 0; i < n; ++i) out.push_back(std::byte{values[i] != 0.0f});
      break;
    default:
      return invalid_argument("input '" + name + "' is " + std::string(datatype_name(dtype)) +
                              "; evaluations feed numeric inputs only (FP32, FP64, INT*, UINT*, BOOL)");
  }
  if (!ok)
    return invalid_argument("input '" + name + "' is " + std::string(datatype_name(dtype)) +
                            ", and a dataset value is not an integer in its range");
  return Status::ok();
}

std::string names_of(const std::vector<TensorSpec>& specs) {
  std::string s;
  for (const auto& spec : specs) s += (s.empty() ? "" : ", ") + spec.name;
  return s;
}

std::string describe(const EvaluationTarget& t) {
  return "model '" + t.model + "' version " + std::to_string(t.version);
}

double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

Result<std::vector<Tensor>> batch_inputs(const Dataset& ds, const EvaluationTarget& target, size_t begin,
                                         size_t end) {
  std::vector<Tensor> tensors;
  const auto rows = static_cast<int64_t>(end - begin);
  for (const auto& in : ds.inputs) {
    std::string name = in.name;
    const TensorSpec* spec = nullptr;
    if (name.empty()) {
      if (target.inputs.size() > 1)
        return invalid_argument(describe(target) + " has " + std::to_string(target.inputs.size()) + " inputs (" +
                                names_of(target.inputs) +
                                "); give each row's inputs by name: JSON lines {\"inputs\": {...}, \"label\": ...}");
      if (target.inputs.size() == 1) spec = &target.inputs.front();
    } else if (!target.inputs.empty()) {
      for (const auto& s : target.inputs)
        if (s.name == name) spec = &s;
      if (!spec)
        return invalid_argument("the dataset's input '" + name + "' is not an input of " + describe(target) +
                                " (inputs: " + names_of(target.inputs) + ")");
    }
    if (spec) name = spec->name;
    Shape shape = {rows};
    shape.insert(shape.end(), in.row_shape.begin(), in.row_shape.end());
    // A flat row fits a declared multi-dimensional input with the same element count.
    if (spec && spec->shape.size() >= 2 && spec->shape.size() != shape.size()) {
      int64_t per_row = 1;
      for (size_t d = 1; d < spec->shape.size(); ++d) per_row = spec->shape[d] > 0 ? per_row * spec->shape[d] : -1;
      if (per_row == static_cast<int64_t>(in.row_size)) {
        shape = spec->shape;
        shape[0] = rows;
      }
    }
    const DataType dtype = spec ? spec->dtype : DataType::kFp32;
    std::vector<std::byte> bytes;
    bytes.reserve(static_cast<size_t>(rows) * in.row_size * std::max<size_t>(datatype_size(dtype), 1));
    QUIVER_RETURN_IF_ERROR(
        convert(dtype, in.values.data() + begin * in.row_size, static_cast<size_t>(rows) * in.row_size, bytes, name));
    tensors.emplace_back(std::move(name), dtype, std::move(shape), std::move(bytes));
  }
  return tensors;
}

Result<EvaluationOutcome> run_evaluation(const Dataset& ds, const EvaluationTarget& target, const RunVersion& run,
                                         const Clock& clock, const EvaluationOptions& options,
                                         const std::function<bool()>& cancelled) {
  const auto started = clock.now();
  const size_t batch_size = std::max<size_t>(options.batch_size, 1);
  EvaluationOutcome out;
  out.rows = ds.rows();
  out.batch_size = batch_size;

  QualityAccumulator acc;
  std::optional<TaskKind> kind;  // fixed by the first batch that runs
  std::vector<int64_t> class_truth;
  std::vector<double> value_truth;
  std::vector<double> latencies;
  Status first_error;
  size_t succeeded = 0;

  for (size_t begin = 0; begin < ds.rows(); begin += batch_size) {
    if (cancelled && cancelled()) return unavailable("the evaluation was cancelled: the server is stopping");
    const size_t end = std::min(ds.rows(), begin + batch_size);
    QUIVER_ASSIGN_OR_RETURN(auto inputs, batch_inputs(ds, target, begin, end));

    std::promise<Result<std::vector<Tensor>>> promise;
    auto future = promise.get_future();
    const auto t0 = clock.now();
    run(target.model, target.version, std::move(inputs),
        [&promise](Result<std::vector<Tensor>> r) { promise.set_value(std::move(r)); });
    Result<std::vector<Tensor>> result = future.get();
    latencies.push_back(ms_between(t0, clock.now()));
    ++out.batches;

    Status st = result.status();
    Prediction pred;
    if (st.is_ok()) {
      auto extracted = extract_prediction(kind.value_or(target.task.kind), target.task.output, *result);
      if (!extracted.is_ok()) {
        st = extracted.status();
      } else if (extracted->rows() != end - begin) {
        st = internal_error("the model returned " + std::to_string(extracted->rows()) + " predictions for " +
                            std::to_string(end - begin) + " rows");
      } else {
        pred = std::move(extracted).value();
      }
    }
    if (!st.is_ok()) {
      out.failed_rows += end - begin;
      if (first_error.is_ok()) first_error = st;
      if (out.error_samples.size() < options.max_error_samples)
        out.error_samples.push_back({ds.lines[begin], st.message()});
      continue;
    }

    if (!kind) {
      // Now that the task is known, every label must fit it before anything counts.
      kind = pred.kind;
      (void)acc.set_task(*kind);
      if (pred.num_classes > 0) acc.ensure_classes(static_cast<size_t>(pred.num_classes));
      for (size_t i = 0; i < ds.rows(); ++i) {
        const std::string where = "line " + std::to_string(ds.lines[i]) + ", label '" + ds.truths[i].text + "': ";
        if (*kind == TaskKind::kClassification) {
          auto c = truth_class(ds.truths[i], target.task.labels, pred.num_classes);
          if (!c.is_ok()) return invalid_argument(where + c.status().message());
          class_truth.push_back(*c);
        } else {
          auto v = truth_value(ds.truths[i]);
          if (!v.is_ok()) return invalid_argument(where + v.status().message());
          value_truth.push_back(*v);
        }
      }
    }
    ++succeeded;
    for (size_t i = begin; i < end; ++i) {
      if (*kind == TaskKind::kClassification)
        acc.add_class(class_truth[i], pred.classes[i - begin]);
      else
        acc.add_value(value_truth[i], pred.values[i - begin]);
    }
  }
  if (succeeded == 0) return first_error.with_context("evaluating " + describe(target) + ": every batch failed");

  out.metrics = acc.report(target.task.labels);
  std::sort(latencies.begin(), latencies.end());
  double sum = 0;
  for (double l : latencies) sum += l;
  out.latency_p50_ms = percentile(latencies, 0.50);
  out.latency_p99_ms = percentile(latencies, 0.99);
  out.latency_mean_ms = latencies.empty() ? 0 : sum / static_cast<double>(latencies.size());
  out.duration_ms = ms_between(started, clock.now());
  return out;
}

nlohmann::json evaluation_json(const EvaluationOutcome& o, const EvaluationTarget& target,
                               const std::string& dataset_sha256, const Dataset& ds) {
  using nlohmann::json;
  json samples = json::array();
  for (const auto& e : o.error_samples) samples.push_back({{"line", e.line}, {"error", e.error}});
  return json{{"model", target.model},
              {"version", target.version},
              {"dataset", dataset_sha256},
              {"label", ds.label},
              {"format", ds.format},
              {"rows", o.rows},
              {"n", o.metrics.n},
              {"metrics", report_json(o.metrics)},
              {"errors", o.failed_rows},
              {"error_samples", std::move(samples)},
              {"duration_ms", o.duration_ms},
              {"latency_ms", {{"p50", o.latency_p50_ms}, {"p99", o.latency_p99_ms}, {"mean", o.latency_mean_ms}}},
              {"batch_size", o.batch_size},
              {"batches", o.batches}};
}

}  // namespace quiver::quality
