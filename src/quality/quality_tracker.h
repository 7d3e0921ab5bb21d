// QualityTracker: live quality per (model, version) from joined feedback. Each version
// has a QualityAccumulator (quality_report.h); the rollout controller reads its
// cumulative counts() every tick, the API reads a full report.
//
// Metrics: quiver_version_quality{model,version,metric} gauges (accuracy, macro_f1 for
// classification; mae, rmse for regression; mean_reward for either), refreshed by
// publish_gauges() (the feedback path calls it once per request, so a batch of items
// recomputes the macro averages once).
//
// Thread-safety: all methods may be called from any thread (one mutex, short holds).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "quality/quality_report.h"

namespace quiver::metrics { class MetricsRegistry; }

namespace quiver::quality {

class QualityTracker {
 public:
  explicit QualityTracker(metrics::MetricsRegistry* metrics) : metrics_(metrics) {}

  // One row per element. `num_classes` (0: unknown) sizes the confusion matrix to the
  // model's output width. Returns false (and records nothing) when the version was
  // already tracked as the other task, or a span's sizes differ.
  bool add_classification(const std::string& model, int64_t version, std::span<const int32_t> predicted,
                          std::span<const int64_t> truth, int32_t num_classes);
  bool add_regression(const std::string& model, int64_t version, std::span<const double> predicted,
                      std::span<const double> truth);
  // `task` (when not kAuto) tells a version that so far only got rewards what it is.
  void add_reward(const std::string& model, int64_t version, TaskKind task, double reward);

  QualityCounts counts(const std::string& model, int64_t version) const;
  // nullopt when the version has no feedback yet.
  std::optional<QualityReport> report(const std::string& model, int64_t version,
                                      const std::vector<std::string>& labels) const;

  // Refreshes the gauges of every version changed since the last call.
  void publish_gauges();

 private:
  using Key = std::pair<std::string, int64_t>;
  QualityAccumulator& at_locked(const std::string& model, int64_t version);

  metrics::MetricsRegistry* metrics_;
  mutable std::mutex mu_;
  std::map<Key, QualityAccumulator> versions_;
  std::set<Key> dirty_;
};

}  // namespace quiver::quality
