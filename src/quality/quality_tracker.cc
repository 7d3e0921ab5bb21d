#include "quality/quality_tracker.h"

#include "metrics/metrics_registry.h"

namespace quiver::quality {

QualityAccumulator& QualityTracker::at_locked(const std::string& model, int64_t version) {
  Key key{model, version};
  dirty_.insert(key);
  return versions_[std::move(key)];
}

bool QualityTracker::add_classification(const std::string& model, int64_t version,
                                        std::span<const int32_t> predicted, std::span<const int64_t> truth,
                                        int32_t num_classes) {
  if (predicted.size() != truth.size()) return false;
  std::lock_guard lock(mu_);
  QualityAccumulator& acc = at_locked(model, version);
  if (!acc.set_task(TaskKind::kClassification)) return false;
  if (num_classes > 0) acc.ensure_classes(static_cast<size_t>(num_classes));
  for (size_t i = 0; i < truth.size(); ++i) acc.add_class(truth[i], predicted[i]);
  return true;
}

bool QualityTracker::add_regression(const std::string& model, int64_t version, std::span<const double> predicted,
                                    std::span<const double> truth) {
  if (predicted.size() != truth.size()) return false;
  std::lock_guard lock(mu_);
  QualityAccumulator& acc = at_locked(model, version);
  if (!acc.set_task(TaskKind::kRegression)) return false;
  for (size_t i = 0; i < truth.size(); ++i) acc.add_value(truth[i], predicted[i]);
  return true;
}

void QualityTracker::add_reward(const std::string& model, int64_t version, TaskKind task, double reward) {
  std::lock_guard lock(mu_);
  QualityAccumulator& acc = at_locked(model, version);
  (void)acc.set_task(task);
  acc.add_reward(reward);
}

QualityCounts QualityTracker::counts(const std::string& model, int64_t version) const {
  std::lock_guard lock(mu_);
  auto it = versions_.find(Key{model, version});
  return it == versions_.end() ? QualityCounts{} : it->second.counts();
}

std::optional<QualityReport> QualityTracker::report(const std::string& model, int64_t version,
                                                    const std::vector<std::string>& labels) const {
  std::lock_guard lock(mu_);
  auto it = versions_.find(Key{model, version});
  if (it == versions_.end()) return std::nullopt;
  return it->second.report(labels);
}

void QualityTracker::publish_gauges() {
  if (!metrics_) return;
  std::vector<std::pair<Key, QualityReport>> changed;
  {
    std::lock_guard lock(mu_);
    for (const Key& key : dirty_) changed.emplace_back(key, versions_.at(key).report({}));
    dirty_.clear();
  }
  for (const auto& item : changed) {
    const Key& key = item.first;
    const QualityReport& r = item.second;
    auto set = [this, &key](const char* metric, double value) {
      metrics_
          ->gauge("quiver_version_quality", "Live quality of a model version from joined feedback",
                  {{"model", key.first}, {"version", std::to_string(key.second)}, {"metric", metric}})
          .set(value);
    };
    if (r.task == TaskKind::kClassification && r.n) {
      set("accuracy", r.accuracy);
      set("macro_f1", r.macro_f1);
    } else if (r.task == TaskKind::kRegression && r.n) {
      set("mae", r.mae);
      set("rmse", r.rmse);
    }
    if (r.reward_n) set("mean_reward", r.mean_reward);
  }
}

}  // namespace quiver::quality
