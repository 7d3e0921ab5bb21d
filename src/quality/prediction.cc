#include "quality/prediction.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace quiver::quality {
namespace {

template <typename T>
T load(const Tensor& t, size_t i) {
  T v;
  std::memcpy(&v, t.bytes().data() + i * sizeof(T), sizeof(T));
  return v;
}

// IEEE 754 half -> double (exact: every half is a double).
double half_to_double(uint16_t h) {
  const int sign = (h & 0x8000) ? -1 : 1;
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  if (exponent == 31) return mantissa ? std::nan("") : sign * INFINITY;
  return sign * std::ldexp(mantissa + 1024, exponent - 25);
}

bool is_numeric(DataType d) { return d != DataType::kBool && d != DataType::kBytes; }

bool is_integer(DataType d) {
  switch (d) {
    case DataType::kUint8: case DataType::kUint16: case DataType::kUint32: case DataType::kUint64:
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64:
      return true;
    default:
      return false;
  }
}

std::string describe(const Tensor& t) {
  return "output '" + t.name() + "' (" + std::string(datatype_name(t.dtype())) + " " + shape_to_string(t.shape()) + ")";
}

}  // namespace

double element_as_double(const Tensor& t, size_t i) {
  switch (t.dtype()) {
    case DataType::kUint8: return load<uint8_t>(t, i);
    case DataType::kUint16: return load<uint16_t>(t, i);
    case DataType::kUint32: return load<uint32_t>(t, i);
    case DataType::kUint64: return static_cast<double>(load<uint64_t>(t, i));
    case DataType::kInt8: return load<int8_t>(t, i);
    case DataType::kInt16: return load<int16_t>(t, i);
    case DataType::kInt32: return load<int32_t>(t, i);
    case DataType::kInt64: return static_cast<double>(load<int64_t>(t, i));
    case DataType::kFp16: return half_to_double(load<uint16_t>(t, i));
    case DataType::kFp32: return load<float>(t, i);
    case DataType::kFp64: return load<double>(t, i);
    case DataType::kBool: return load<uint8_t>(t, i) ? 1.0 : 0.0;
    case DataType::kBytes: break;
  }
  return std::nan("");
}

Result<const Tensor*> select_output(std::string_view output, const std::vector<Tensor>& outputs) {
  if (outputs.empty()) return not_found("the model returned no outputs");
  if (output.empty()) return &outputs.front();
  for (const auto& t : outputs)
    if (t.name() == output) return &t;
  return not_found("the model has no output '" + std::string(output) + "' (named by the version's 'output' metadata)");
}

Result<TaskKind> resolve_kind(TaskKind kind, const Shape& shape) {
  const bool column = shape.size() == 1 || (shape.size() == 2 && shape[1] == 1);
  const bool matrix = shape.size() == 2 && shape[1] > 1;
  switch (kind) {
    case TaskKind::kClassification:
      if (matrix || column) return kind;
      break;
    case TaskKind::kRegression:
      if (column) return kind;
      break;
    case TaskKind::kAuto:
      if (matrix) return TaskKind::kClassification;
      if (column) return TaskKind::kRegression;
      break;
  }
  return invalid_argument("an output of shape " + shape_to_string(shape) + " does not fit a " +
                          std::string(kind == TaskKind::kAuto ? "classification or regression"
                                                              : task_kind_name(kind)) +
                          " task: expected [batch, classes] or [batch] / [batch, 1]");
}

Result<Prediction> extract_prediction(TaskKind kind, std::string_view output, const std::vector<Tensor>& outputs) {
  QUIVER_ASSIGN_OR_RETURN(const Tensor* t, select_output(output, outputs));
  if (!is_numeric(t->dtype())) return invalid_argument(describe(*t) + " is not numeric");
  QUIVER_ASSIGN_OR_RETURN(TaskKind resolved, resolve_kind(kind, t->shape()));
  const auto& shape = t->shape();
  const auto count = t->element_count();
  if (count < 0 || t->byte_size() != static_cast<size_t>(count) * datatype_size(t->dtype()))
    return invalid_argument(describe(*t) + " holds the wrong number of bytes");
  const auto rows = static_cast<size_t>(shape[0]);

  Prediction p;
  p.kind = resolved;
  if (resolved == TaskKind::kRegression) {
    p.values.resize(rows);
    for (size_t r = 0; r < rows; ++r) p.values[r] = element_as_double(*t, r);
    return p;
  }
  if (shape.size() == 1 || shape[1] == 1) {
    // The model outputs class indices itself.
    if (!is_integer(t->dtype()))
      return invalid_argument(describe(*t) + " has one value per row; a classification task needs [batch, classes] "
                                             "scores or integer class indices");
    p.classes.resize(rows);
    for (size_t r = 0; r < rows; ++r) {
      const double v = element_as_double(*t, r);
      if (v < 0 || v > INT32_MAX) return invalid_argument(describe(*t) + " row " + std::to_string(r) +
                                                          " is not a class index: " + std::to_string(v));
      p.classes[r] = static_cast<int32_t>(v);
    }
    return p;
  }
  if (shape[1] > INT32_MAX) return invalid_argument(describe(*t) + " has too many classes");
  const auto k = static_cast<size_t>(shape[1]);
  p.num_classes = static_cast<int32_t>(k);
  p.classes.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    size_t best = 0;
    double best_v = element_as_double(*t, r * k);
    for (size_t c = 1; c < k; ++c) {
      const double v = element_as_double(*t, r * k + c);
      if (v > best_v || (std::isnan(best_v) && !std::isnan(v))) {
        best = c;
        best_v = v;
      }
    }
    p.classes[r] = static_cast<int32_t>(best);
  }
  return p;
}

Result<int64_t> truth_class(const Truth& truth, const std::vector<std::string>& labels, int64_t num_classes) {
  int64_t index = -1;
  if (truth.is_number) {
    if (!(truth.number >= 0) || truth.number != std::floor(truth.number))
      return invalid_argument("truth " + truth.text + " is not a class index (a non-negative integer)");
    if (truth.number > static_cast<double>(kMaxClassIndex))
      return invalid_argument("truth " + truth.text + " is beyond the largest class index (" +
                              std::to_string(kMaxClassIndex) + ")");
    index = static_cast<int64_t>(truth.number);
  } else {
    for (size_t i = 0; i < labels.size(); ++i)
      if (labels[i] == truth.text) return static_cast<int64_t>(i);
    if (labels.empty())
      return invalid_argument("truth '" + truth.text +
                              "' is a label, but the version declares no 'labels' metadata; send the class index");
    std::string known;
    for (const auto& l : labels) known += (known.empty() ? "" : ", ") + l;
    return invalid_argument("truth '" + truth.text + "' is not one of the version's labels (" + known + ")");
  }
  const int64_t limit = std::max<int64_t>(num_classes, static_cast<int64_t>(labels.size()));
  if (num_classes > 0 && index >= limit)
    return invalid_argument("truth " + truth.text + " is not a class of this model (it has " +
                            std::to_string(limit) + " classes)");
  return index;
}

Result<double> truth_value(const Truth& truth) {
  if (!truth.is_number) return invalid_argument("truth '" + truth.text + "' is not a number (regression)");
  if (!std::isfinite(truth.number)) return invalid_argument("truth is not a finite number");
  return truth.number;
}

std::optional<Truth> truth_from_json(const nlohmann::json& v) {
  Truth t;
  if (v.is_number()) {
    t.is_number = true;
    t.number = v.get<double>();
    t.text = v.dump();
  } else if (v.is_string()) {
    t.text = v.get<std::string>();
  } else {
    return std::nullopt;
  }
  return t;
}

}  // namespace quiver::quality
