// Offline evaluation datasets, read from a blob:
//
//   CSV with a header row: the label column (`label`, default the last column) holds
//   each row's truth (a class index, a class label, or a number for regression);
//   every other column, in file order, is a feature. The features of a row become one
//   row of a single [rows, features] input. Fields may be quoted ("a,b", "say ""hi""").
//
//   JSON lines (detected by a first non-space byte '{'): one object per line, either
//     {"features": [...], "label": ...}                 one input, fed to the version's
//                                                       single input, or
//     {"inputs": {"<input name>": [...], ...}, "label": ...}   named inputs.
//   Arrays may be nested (a row's shape is the nesting); every line must have the
//   same inputs with the same shapes. The label key is `label` unless given.
//
// Blank lines are skipped. Every problem is an InvalidArgument naming the line (1 is
// the first line of the file) and the column or key.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "quality/prediction.h"

namespace quiver::quality {

struct DatasetInput {
  std::string name;    // empty: the version's single input
  Shape row_shape;     // one row's dims (without the batch dim)
  size_t row_size = 0;  // elements per row
  std::vector<float> values;  // rows * row_size, row-major
};

struct Dataset {
  std::string format;                 // "csv" | "jsonl"
  std::string label;                  // the label column or key
  std::vector<std::string> features;  // CSV: the feature columns in file order
  std::vector<DatasetInput> inputs;
  std::vector<Truth> truths;          // one per row
  std::vector<int64_t> lines;         // one per row: its line in the file
  size_t rows() const { return truths.size(); }
};

// `label`: the label column (CSV) or key (JSON lines); nullopt for the default.
Result<Dataset> parse_dataset(std::string_view text, const std::optional<std::string>& label);
Result<Dataset> parse_csv(std::string_view text, const std::optional<std::string>& label);
Result<Dataset> parse_json_lines(std::string_view text, const std::optional<std::string>& label);

}  // namespace quiver::quality
