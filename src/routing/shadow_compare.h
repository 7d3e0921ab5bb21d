// Shadow traffic comparison: for each (primary, shadow) version pair of a model, how
// far the shadow's outputs are from the primary's on the same inputs.
//
// The user's answer never waits for a shadow: ShadowComparison collects both results
// as they arrive (in any order) and records the difference when the second lands.
//
// Thread-safety: ShadowTracker and ShadowComparison may be used from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quiver::metrics { class MetricsRegistry; }

namespace quiver::routing {

// Differences between two sets of outputs (matched by name).
struct OutputDiff {
  double max_abs_diff = 0;
  double sum_abs_diff = 0;
  uint64_t elements = 0;
  uint64_t top1_rows = 0;    // rows compared by arg-max (rank-2 outputs with >1 column)
  uint64_t top1_agree = 0;   // rows whose arg-max agrees
};

// InvalidArgument when the outputs cannot be compared (names, shapes, dtypes differ).
Result<OutputDiff> compare_outputs(const std::vector<Tensor>& primary, const std::vector<Tensor>& shadow);

struct ShadowPairStats {
  std::string model;
  int64_t primary = 0;
  int64_t shadow = 0;
  uint64_t compared = 0;      // requests whose outputs were compared
  uint64_t errors = 0;        // shadow failed, or outputs not comparable
  double max_abs_diff = 0;    // worst over all compared requests
  double mean_abs_diff = 0;   // over all compared elements
  double top1_agreement = 1;  // share of compared rows whose arg-max agrees (1 when none)
  // Exact counts behind the shares, for controllers that difference them over a window.
  uint64_t top1_rows = 0;
  uint64_t top1_agree = 0;
  double request_mad_sum = 0;     // sum over compared requests of each one's mean abs diff
  double request_mad_sq_sum = 0;  // ... and of its square
};

class ShadowTracker {
 public:
  explicit ShadowTracker(metrics::MetricsRegistry* metrics) : metrics_(metrics) {}
  void record(const std::string& model, int64_t primary, int64_t shadow, const OutputDiff& diff);
  void record_error(const std::string& model, int64_t primary, int64_t shadow);
  std::vector<ShadowPairStats> stats(const std::string& model) const;

 private:
  struct Acc {
    ShadowPairStats s;
    double sum_abs = 0;
    uint64_t elements = 0;
  };
  Acc& acc(const std::string& model, int64_t primary, int64_t shadow);  // mu_ held
  void export_metrics(const Acc& a);                                     // mu_ held

  metrics::MetricsRegistry* metrics_;
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, int64_t, int64_t>, Acc> pairs_;
};

// One routed request's primary result and one shadow's, compared when both arrive.
class ShadowComparison {
 public:
  ShadowComparison(ShadowTracker& tracker, std::string model, int64_t primary, int64_t shadow)
      : tracker_(tracker), model_(std::move(model)), primary_(primary), shadow_(shadow) {}
  // A failed primary cancels the comparison; a failed shadow counts as a shadow error.
  void set_primary(const Result<std::vector<Tensor>>& r);
  void set_shadow(const Result<std::vector<Tensor>>& r);

 private:
  void finish_locked();
  ShadowTracker& tracker_;
  const std::string model_;
  const int64_t primary_, shadow_;
  std::mutex mu_;
  std::optional<Result<std::vector<Tensor>>> primary_result_, shadow_result_;
};

}  // namespace quiver::routing
