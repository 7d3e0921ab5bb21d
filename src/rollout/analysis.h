// One look at a rollout's evidence: each configured metric of the candidate against
// the baseline (or an absolute limit) over the analysis window, judged with an
// always-valid confidence sequence (confidence_sequence.h), so the controller may look
// every tick without inflating false alarms.
//
// A verdict is pass, fail, or inconclusive; with fewer than min_samples on a side it
// is always inconclusive. Shadow metrics apply only in steps that mirror traffic, and
// feedback metrics (accuracy, mean_reward) only in steps where the candidate answers
// users, since only answers users saw get feedback.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "core/deployment_spec.h"
#include "rollout/confidence_sequence.h"
#include "rollout/signals.h"

namespace quiver::rollout {

struct MetricVerdict {
  std::string name;
  Verdict verdict = Verdict::kInconclusive;
  uint64_t n = 0;          // candidate samples behind the verdict
  double estimate = 0;     // the compared quantity (see `detail` for units)
  Interval interval;       // its always-valid interval
  double limit = 0;        // the bound `estimate` is judged against
  double value = 0;        // the candidate's own value of the metric (rate, ms, share)
  double baseline = 0;     // the baseline's value, when compared with it
  bool critical = false;
  bool applies = true;     // false: not measured in this step (a shadow metric, no mirror)
  std::string detail;      // one line a person can read
};

struct WindowEvidence {
  VersionCounters baseline;   // differences over the window
  VersionCounters candidate;
};

struct StepKind {
  bool mirrors = false;  // the step mirrors traffic to the candidate
  bool live = false;     // the candidate takes live traffic
};

std::vector<MetricVerdict> analyze(const AnalysisConfig& config, const WindowEvidence& window,
                                   const std::vector<double>& latency_bounds, StepKind step);

}  // namespace quiver::rollout
