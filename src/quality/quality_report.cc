#include "quality/quality_report.h"

#include <algorithm>
#include <cmath>

namespace quiver::quality {

bool QualityAccumulator::set_task(TaskKind task) {
  if (task == TaskKind::kAuto) return true;
  if (task_ == TaskKind::kAuto) task_ = task;
  return task_ == task;
}

void QualityAccumulator::ensure_classes(size_t k) {
  if (confusion_.size() >= k) return;
  for (auto& row : confusion_) row.resize(k, 0);
  confusion_.resize(k, std::vector<uint64_t>(k, 0));
}

bool QualityAccumulator::add_class(int64_t truth, int64_t predicted) {
  if (truth < 0 || predicted < 0 || !set_task(TaskKind::kClassification)) return false;
  ensure_classes(static_cast<size_t>(std::max(truth, predicted)) + 1);
  ++confusion_[truth][predicted];
  ++counts_.n;
  if (truth == predicted) ++counts_.correct;
  return true;
}

bool QualityAccumulator::add_value(double truth, double predicted) {
  if (!set_task(TaskKind::kRegression)) return false;
  const double err = predicted - truth;
  ++counts_.n;
  counts_.abs_err_sum += std::fabs(err);
  counts_.sq_err_sum += err * err;
  return true;
}

void QualityAccumulator::add_reward(double reward) {
  ++counts_.reward_n;
  counts_.reward_sum += reward;
  counts_.reward_sq_sum += reward * reward;
}

QualityReport QualityAccumulator::report(const std::vector<std::string>& labels) const {
  QualityReport r;
  r.task = task_;
  r.n = counts_.n;
  r.reward_n = counts_.reward_n;
  if (counts_.reward_n) r.mean_reward = counts_.reward_sum / static_cast<double>(counts_.reward_n);
  if (task_ == TaskKind::kRegression && counts_.n) {
    const auto n = static_cast<double>(counts_.n);
    r.mae = counts_.abs_err_sum / n;
    r.rmse = std::sqrt(counts_.sq_err_sum / n);
  }
  if (task_ != TaskKind::kClassification) return r;

  r.confusion = confusion_;
  const size_t k = confusion_.size();
  if (counts_.n) r.accuracy = static_cast<double>(counts_.correct) / static_cast<double>(counts_.n);
  double sum_p = 0, sum_r = 0, sum_f1 = 0;
  size_t occurring = 0;
  for (size_t c = 0; c < k; ++c) {
    uint64_t tp = confusion_[c][c], support = 0, predicted = 0;
    for (size_t j = 0; j < k; ++j) {
      support += confusion_[c][j];
      predicted += confusion_[j][c];
    }
    ClassQuality q;
    q.cls = static_cast<int64_t>(c);
    if (c < labels.size()) q.label = labels[c];
    q.support = support;
    // A class never predicted has precision 0, one never true has recall 0, and F1 is
    // 0 when both are: no division by zero, and such a class drags the mean down.
    q.precision = predicted ? static_cast<double>(tp) / static_cast<double>(predicted) : 0.0;
    q.recall = support ? static_cast<double>(tp) / static_cast<double>(support) : 0.0;
    q.f1 = (q.precision + q.recall) > 0 ? 2 * q.precision * q.recall / (q.precision + q.recall) : 0.0;
    if (support || predicted) {
      ++occurring;
      sum_p += q.precision;
      sum_r += q.recall;
      sum_f1 += q.f1;
    }
    r.per_class.push_back(std::move(q));
  }
  if (occurring) {
    r.macro_precision = sum_p / static_cast<double>(occurring);
    r.macro_recall = sum_r / static_cast<double>(occurring);
    r.macro_f1 = sum_f1 / static_cast<double>(occurring);
  }
  return r;
}

nlohmann::json report_json(const QualityReport& r) {
  using nlohmann::json;
  auto defined = [](bool ok, double v) { return ok ? json(v) : json(nullptr); };
  json j;
  j["task"] = r.task == TaskKind::kAuto ? "unknown" : std::string(task_kind_name(r.task));
  j["n"] = r.n;
  if (r.task == TaskKind::kClassification) {
    j["accuracy"] = defined(r.n > 0, r.accuracy);
    j["macro_precision"] = defined(r.n > 0, r.macro_precision);
    j["macro_recall"] = defined(r.n > 0, r.macro_recall);
    j["macro_f1"] = defined(r.n > 0, r.macro_f1);
    json per_class = json::array();
    for (const auto& q : r.per_class) {
      json c = {{"class", q.cls}};
      if (!q.label.empty()) c["label"] = q.label;
      c["precision"] = q.precision;
      c["recall"] = q.recall;
      c["f1"] = q.f1;
      c["support"] = q.support;
      per_class.push_back(std::move(c));
    }
    j["per_class"] = std::move(per_class);
    j["confusion"] = r.confusion;
  } else if (r.task == TaskKind::kRegression) {
    j["mae"] = defined(r.n > 0, r.mae);
    j["rmse"] = defined(r.n > 0, r.rmse);
  }
  j["mean_reward"] = defined(r.reward_n > 0, r.mean_reward);
  j["reward_n"] = r.reward_n;
  return j;
}

}  // namespace quiver::quality
