// Quality of one model version against known truths: the accumulators feedback and
// offline evaluations fill, and the report computed from them (API.md §4's quality
// document). Classification keeps a confusion matrix that grows with the class count;
// regression keeps error sums; either may also keep rewards.
//
// Definitions (the same for live feedback and evaluations):
//   accuracy          correct / n
//   precision(c)      tp(c) / predicted(c), and 0 when c was never predicted
//   recall(c)         tp(c) / support(c),   and 0 when c never was the truth
//   f1(c)             2 * precision * recall / (precision + recall), and 0 when both are 0
//   macro_*           the plain mean over the classes that occur as a truth or as a
//                     prediction (scikit-learn's convention: a class the model can
//                     output but that never occurred counts neither way); per_class
//                     still lists it, with zeros
//   mae, rmse         mean |prediction - truth|, sqrt(mean (prediction - truth)^2)
//   mean_reward       reward_sum / reward_n
// Undefined values (n = 0, reward_n = 0) are JSON null.
//
// Thread-safety: plain values; QualityAccumulator is not synchronized (its owner locks).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/prediction_task.h"

namespace quiver::quality {

// Cumulative counters the rollout controller reads each tick (differences between two
// reads give a window). For classification, n counts rows with a truth and `correct`
// those predicted right; for regression, n counts rows and the sums are of
// |prediction - truth| and its square.
struct QualityCounts {
  uint64_t n = 0;
  uint64_t correct = 0;
  double abs_err_sum = 0, sq_err_sum = 0;
  uint64_t reward_n = 0;
  double reward_sum = 0, reward_sq_sum = 0;
};

struct ClassQuality {
  int64_t cls = 0;
  std::string label;  // empty when the task has no label for the class
  double precision = 0, recall = 0, f1 = 0;
  uint64_t support = 0;
};

struct QualityReport {
  TaskKind task = TaskKind::kAuto;  // kAuto: nothing known yet
  uint64_t n = 0;
  // classification
  double accuracy = 0, macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  std::vector<ClassQuality> per_class;
  std::vector<std::vector<uint64_t>> confusion;  // [truth][predicted]
  // regression
  double mae = 0, rmse = 0;
  // either
  uint64_t reward_n = 0;
  double mean_reward = 0;
};

class QualityAccumulator {
 public:
  // The task is fixed by the first call that names one; a call for the other task is
  // ignored and returns false (a version is either kind, never both).
  bool set_task(TaskKind task);
  TaskKind task() const { return task_; }

  // Grows the confusion matrix to at least k classes (a [batch, k] output's width).
  void ensure_classes(size_t k);
  bool add_class(int64_t truth, int64_t predicted);  // indices >= 0
  bool add_value(double truth, double predicted);
  void add_reward(double reward);

  QualityCounts counts() const { return counts_; }
  // `labels` names classes by index (may be shorter than the class count, or empty).
  QualityReport report(const std::vector<std::string>& labels) const;

 private:
  TaskKind task_ = TaskKind::kAuto;
  QualityCounts counts_;
  std::vector<std::vector<uint64_t>> confusion_;
};

// {"task","n",...} as API.md §4 shows; `task` "unknown" while nothing is known.
nlohmann::json report_json(const QualityReport& report);

}  // namespace quiver::quality
