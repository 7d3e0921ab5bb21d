// Always-valid (anytime) confidence intervals for comparing a rollout's candidate with
// its baseline.
//
// Why: the rollout controller looks at the evidence every tick. A fixed-horizon test
// (a t-test or a Mann-Whitney test run again and again) declares a difference far more
// often than its alpha says when it is repeated; an interval from a confidence
// *sequence* covers the truth at every sample size at once with probability >= 1-alpha,
// so it may be recomputed as often as we like and stopped whenever it is decisive.
//
// The construction is Robbins' normal mixture, as in Johari et al.'s mixture SPRT
// ("always valid inference") and the asymptotic confidence sequences of
// Waudby-Smith et al.: for an estimator with variance s² (information I = 1/s²) and a
// N(0, tau²) mixture over the effect, the two-sided half-width is
//   h = sqrt((1 + tau² I) (2 ln(1/alpha) + ln(1 + tau² I)) / (tau² I²)).
// Variances are plug-in estimates, so the guarantee is asymptotic: it holds well once a
// few dozen samples are in, and the regularisations below keep the first samples from
// producing falsely narrow intervals.
//
// tau is the effect size the sequence is tuned to: the interval is narrowest around the
// sample size at which an effect of about tau becomes visible. Any tau is valid; the
// choice only moves where decisions come fastest. default_tau(limit effect) returns
// three times the limit's effect (0.03 for "error rate may rise by at most 0.01",
// 3 ln(1.2) for "latency may grow by at most 20%"): tuning to the limit itself favours
// the close calls near it, while regressions worth a rollback are usually several times
// larger. Against tau = the limit, this detects a 0.2 error rate (limit +0.01, alpha
// 0.01, 5% canary) after ~110 instead of ~280 candidate requests, and needs 5-11%
// more samples to pass a candidate that is as good as its baseline.
//
// Preconditions: 0 < alpha < 1 and tau > 0; otherwise an interval is unbounded, so it
// never decides anything.
//
// Thread-safety: every function is pure; MeanSummary is a plain value type.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace quiver::rollout {

// default_tau() = kTauPerEffect x |effect|, at least kMinTau: a zero-sized limit
// (max_increase: 0) would otherwise give tau = 0 and an infinitely wide interval.
inline constexpr double kTauPerEffect = 3;
inline constexpr double kMinTau = 1e-3;

// tau for a limit whose effect size is `effect` (sign ignored; for a ratio limit pass
// the log of the ratio).
double default_tau(double effect);

struct Interval {
  double lo = 0;
  double hi = 0;
};

// `value` is the point estimate, `n` the samples behind it (for a difference: the
// smaller of the two sides). With no information the interval is (-inf, +inf), or the
// parameter's natural range for proportions.
struct Estimate {
  uint64_t n = 0;
  double value = 0;
  Interval interval;
};

// The closed range a sample's values are known to lie in. (A constructor, not an
// aggregate, so that MeanSummary{n, sum, sum_sq, 0.25} does not compile by accident.)
struct ValueRange {
  constexpr ValueRange(double lo, double hi) : lower(lo), upper(hi) {}
  double lower;
  double upper;
};

// Running sum statistics of one sample, and the range its values are known to lie in,
// when there is one: MeanSummary{n, sum, sum_sq, ValueRange(0, 1)} for rewards.
//
// Plug-in variances make the intervals valid only asymptotically, and the first samples
// are the dangerous ones: two nearly equal values "prove" a tiny variance. So:
//  - for a bounded sample the interval functions add pseudo-observations at both ends of
//    the range (Agresti-Coull's idea for proportions, generalised): two per end for one
//    mean, one per end per side for a comparison. The centre moves a little towards the
//    middle and the variance never collapses; the reported value stays the raw mean.
//  - an unbounded sample gets no finite interval before kMinSamples values; and for
//    strongly skewed values (latencies) prefer a proportion such as exceedance_cs.
// The variance is floored at kMinVariance either way.
struct MeanSummary {
  static constexpr uint64_t kMinSamples = 50;
  static constexpr double kMinVariance = 1e-12;

  uint64_t n = 0;
  double sum = 0;
  double sum_sq = 0;
  std::optional<ValueRange> range;  // e.g. {0, 1} for rewards; none for latencies

  static MeanSummary of(std::span<const double> values);
  static MeanSummary bounded(double lower, double upper, std::span<const double> values = {});
  void add(double x);
  void merge(const MeanSummary& other);  // keeps this summary's range

  bool is_bounded() const;  // a range with finite lower < upper
  double mean() const;      // 0 when empty
  double variance() const;  // Bessel-corrected, of one value; +inf below two values
};

// Always-valid interval for the mean of one sample.
Estimate mean_cs(const MeanSummary& s, double alpha, double tau);

// Always-valid interval for a proportion x/n (x <= n; a larger x counts as n). The
// value is x/n; the interval is centred on, and its variance p~(1-p~)/n taken at, the
// regularised p~ = (x+2)/(n+4) (Agresti-Coull), so 0 of n still has a width and small
// samples do not claim certainty. Clipped to [0, 1].
Estimate proportion_cs(uint64_t x, uint64_t n, double alpha, double tau);

// Difference candidate - baseline of two independent means. Both need a range, or
// kMinSamples values each, for a finite interval.
Estimate difference_cs(const MeanSummary& baseline, const MeanSummary& candidate, double alpha,
                       double tau);

// Difference candidate - baseline (x1/n1 - x0/n0) of two proportions. Regularised like
// proportion_cs but with p~ = (x+1)/(n+2) per side (Agresti-Caffo). Clipped to [-1, 1].
Estimate proportion_difference_cs(uint64_t x0, uint64_t n0, uint64_t x1, uint64_t n1, double alpha,
                                  double tau);

// Ratio candidate / baseline of two means of positive values, by the delta method on
// logs: tau is on the log scale (default_tau(std::log(max_ratio))). The value is the
// ratio of the means and the interval is exp() of the log-scale interval. With a
// non-positive mean there is no estimate: the interval is (0, +inf).
Estimate ratio_cs(const MeanSummary& baseline, const MeanSummary& candidate, double alpha, double tau);

enum class Verdict { kPass, kFail, kInconclusive };

// For a limit where larger is worse (error-rate increase, latency ratio, exceedance):
// fail when interval.lo > limit, pass when interval.hi <= limit, else inconclusive.
Verdict judge_upper_limit(const Estimate& e, double limit);
// For a limit where smaller is worse (accuracy, agreement): fail when interval.hi <
// limit, pass when interval.lo >= limit, else inconclusive.
Verdict judge_lower_limit(const Estimate& e, double limit);

std::string_view verdict_name(Verdict v);  // "pass" | "fail" | "inconclusive"

// --- Latency quantiles from histograms ---------------------------------------------
// `counts[i]` samples lie in bucket i, whose values are below `upper_bounds[i]` and at
// or above upper_bounds[i-1] (0 for bucket 0). Bounds ascend; the last may be +inf.
// The server's latency histogram: 64 buckets, bound i = 10µs * 1.25^i, and the last
// bucket also holds everything larger (see serving/servable_stats.cc).

// The q-quantile (0 < q <= 1), interpolated linearly inside its bucket; the lower bound
// when it falls in an unbounded last bucket; 0 for an empty histogram or mismatched
// sizes.
double histogram_quantile(std::span<const uint64_t> counts, std::span<const double> upper_bounds,
                          double q);

// Always-valid interval for the share of samples above `limit`. A bucket that straddles
// the limit contributes the fraction of its width above it; an unbounded bucket counts
// fully. To test "p_q <= limit", judge_upper_limit(exceedance_cs(...), 1 - q): if the
// q-quantile is at most the limit, at most a share 1-q of samples exceed it.
Estimate exceedance_cs(std::span<const uint64_t> counts, std::span<const double> upper_bounds,
                       double limit, double alpha, double tau);

}  // namespace quiver::rollout
