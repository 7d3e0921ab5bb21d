// Reading what a model predicted from its output tensors, per row, so feedback and
// offline evaluations can score it: a class index per row (classification: the arg-max
// of a [batch, k] output) or a value per row (regression: a [batch] or [batch, 1]
// output). core/prediction_task.h says how a version declares which one applies.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/prediction_task.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::quality {

// What one request (or one evaluation batch) predicted. Small on purpose: the
// prediction log keeps one per logged request, never the tensors.
struct Prediction {
  TaskKind kind = TaskKind::kClassification;  // never kAuto once extracted
  int32_t num_classes = 0;                    // classification: k of a [batch, k] output; 0 unknown
  std::vector<int32_t> classes;               // classification: the class index of each row
  std::vector<double> values;                 // regression: the value of each row
  size_t rows() const { return kind == TaskKind::kClassification ? classes.size() : values.size(); }
};

// The output tensor the task reads: the one named `output`, or the first when empty.
// NotFound when no such output exists.
Result<const Tensor*> select_output(std::string_view output, const std::vector<Tensor>& outputs);

// The task a [batch, k] / [batch] / [batch, 1] output implies under `kind`: an explicit
// kind stands; kAuto is classification for k > 1, regression for [batch] or
// [batch, 1]. InvalidArgument for shapes that fit neither.
Result<TaskKind> resolve_kind(TaskKind kind, const Shape& output_shape);

// Extracts one prediction per row. Classification reads the arg-max of each row of a
// [batch, k] output (the first maximum wins; NaN never wins), or, for an explicit
// classification task on a [batch] / [batch, 1] integer output, the class indices
// themselves. Regression reads the single value of each row. Any numeric dtype works
// (BOOL and BYTES do not). InvalidArgument when the output does not fit the task.
Result<Prediction> extract_prediction(TaskKind kind, std::string_view output, const std::vector<Tensor>& outputs);

// A known answer for one row as the user wrote it: a number (a class index or a
// regression target) or a class label.
struct Truth {
  bool is_number = false;
  double number = 0;
  std::string text;  // as written: the label when !is_number, else the number's text
};

// A truth as JSON carries it: a number or a string; nullopt for anything else (the
// caller says what it expected).
std::optional<Truth> truth_from_json(const nlohmann::json& v);

// Largest class index a truth may name when the output's class count is unknown, so a
// typo cannot grow a confusion matrix without bound.
constexpr int64_t kMaxClassIndex = 65535;

// The class index `truth` names: an integral number >= 0, or a label found in `labels`.
// `num_classes` > 0 bounds the index by the model's class count (or labels.size(),
// whichever is larger). InvalidArgument, with a clear message, otherwise.
Result<int64_t> truth_class(const Truth& truth, const std::vector<std::string>& labels, int64_t num_classes);
// The regression target: a finite number.
Result<double> truth_value(const Truth& truth);

// One element of a numeric tensor as a double (precondition: i < element_count(),
// dtype numeric).
double element_as_double(const Tensor& tensor, size_t i);

}  // namespace quiver::quality
