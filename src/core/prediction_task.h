// What a model version predicts and how to read that prediction from its outputs, so
// the server can join user feedback (quality/) and run offline evaluations without
// the client echoing anything back.
//
// Declared per version in its metadata (the same keys may be given model-wide in a
// deployment's `quality:` section; a version's own metadata wins):
//   "task":   "classification" | "regression"   (absent: inferred from the output)
//   "output": the output tensor to read           (absent: the first output)
//   "labels": "setosa,versicolor,virginica"       (class names, index order; optional)
// Classification reads the arg-max of each row of a [batch, classes] output; regression
// reads the single value of each row of a [batch] or [batch, 1] output.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace quiver {

enum class TaskKind { kAuto, kClassification, kRegression };

struct PredictionTask {
  TaskKind kind = TaskKind::kAuto;
  std::string output;               // empty: the first output
  std::vector<std::string> labels;  // class names in index order; may be empty
  bool operator==(const PredictionTask&) const = default;
};

// Reads the keys above from version metadata, falling back to `defaults` for each key
// the metadata does not set. Unknown task words read as kAuto.
PredictionTask prediction_task_from_metadata(const std::map<std::string, std::string>& metadata,
                                             const PredictionTask& defaults = {});

std::string_view task_kind_name(TaskKind kind);  // "auto" | "classification" | "regression"

}  // namespace quiver
