#include "core/prediction_task.h"

namespace quiver {
namespace {

std::vector<std::string> split_labels(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (c != ' ' || !cur.empty()) {
      cur += c;
    }
  }
  if (!cur.empty() || !out.empty()) out.push_back(cur);
  return out;
}

}  // namespace

PredictionTask prediction_task_from_metadata(const std::map<std::string, std::string>& metadata,
                                             const PredictionTask& defaults) {
  PredictionTask task = defaults;
  if (auto it = metadata.find("task"); it != metadata.end()) {
    if (it->second == "classification") task.kind = TaskKind::kClassification;
    else if (it->second == "regression") task.kind = TaskKind::kRegression;
    else task.kind = TaskKind::kAuto;
  }
  if (auto it = metadata.find("output"); it != metadata.end()) task.output = it->second;
  if (auto it = metadata.find("labels"); it != metadata.end()) task.labels = split_labels(it->second);
  return task;
}

std::string_view task_kind_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::kClassification: return "classification";
    case TaskKind::kRegression: return "regression";
    case TaskKind::kAuto: break;
  }
  return "auto";
}

}  // namespace quiver
