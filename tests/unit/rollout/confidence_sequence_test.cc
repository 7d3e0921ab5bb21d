#include "rollout/confidence_sequence.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace quiver::rollout {
namespace {

constexpr double kAlpha = 0.05;
constexpr double kInf = std::numeric_limits<double>::infinity();

double formula_half_width(double info, double alpha, double tau) {
  const double t2i = tau * tau * info;
  return std::sqrt((1 + t2i) * (2 * std::log(1 / alpha) + std::log(1 + t2i)) / (tau * tau * info * info));
}

bool covers(const Estimate& e, double truth) { return e.interval.lo <= truth && truth <= e.interval.hi; }

TEST(ConfidenceSequenceTest, MeanHalfWidthFollowsTheNormalMixtureFormula) {
  std::vector<double> xs;
  for (int i = 0; i < 60; ++i) xs.push_back(i % 2 == 0 ? 1.0 : 3.0);
  const MeanSummary s = MeanSummary::of(xs);
  EXPECT_DOUBLE_EQ(s.mean(), 2.0);
  EXPECT_DOUBLE_EQ(s.variance(), 60.0 / 59.0);  // Bessel-corrected
  const Estimate e = mean_cs(s, kAlpha, 0.5);
  const double h = formula_half_width(60 / s.variance(), kAlpha, 0.5);
  EXPECT_EQ(e.n, 60u);
  EXPECT_DOUBLE_EQ(e.value, 2.0);
  EXPECT_NEAR(e.interval.lo, 2.0 - h, 1e-12);
  EXPECT_NEAR(e.interval.hi, 2.0 + h, 1e-12);
}

TEST(ConfidenceSequenceTest, WidthShrinksWithSamplesAndGrowsWithConfidence) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> d(0, 1);
  MeanSummary s;
  double last = kInf;
  for (int i = 0; i < 5000; ++i) {
    s.add(d(rng));
    if (i % 500 == 499) {
      const Estimate e = mean_cs(s, kAlpha, 0.1);
      const double width = e.interval.hi - e.interval.lo;
      EXPECT_LT(width, last);
      last = width;
    }
  }
  const Estimate loose = mean_cs(s, 0.1, 0.1), strict = mean_cs(s, 0.001, 0.1);
  EXPECT_LT(loose.interval.hi - loose.interval.lo, strict.interval.hi - strict.interval.lo);
}

TEST(ConfidenceSequenceTest, VarianceFloorAndMinimumSamples) {
  MeanSummary s;
  EXPECT_EQ(s.mean(), 0);
  EXPECT_EQ(s.variance(), kInf);
  s.add(3);
  EXPECT_EQ(s.variance(), kInf);  // one value: undefined
  s.add(3);
  EXPECT_EQ(s.variance(), MeanSummary::kMinVariance);  // all equal: floored, not zero
  // An unbounded sample has no finite interval before kMinSamples values.
  while (s.n + 1 < MeanSummary::kMinSamples) s.add(s.n % 2 == 0 ? 2.0 : 4.0);
  EXPECT_EQ(mean_cs(s, kAlpha, 0.1).interval.hi, kInf);
  s.add(3);
  EXPECT_LT(mean_cs(s, kAlpha, 0.1).interval.hi, 10);

  MeanSummary a = MeanSummary::of(std::vector<double>{1, 2});
  a.merge(MeanSummary::of(std::vector<double>{3, 4}));
  EXPECT_EQ(a.n, 4u);
  EXPECT_DOUBLE_EQ(a.mean(), 2.5);
}

template <typename T>
concept InitFromPriorVariance = requires { T{uint64_t{1}, 1.0, 1.0, 0.25}; };
template <typename T>
concept InitFromRange = requires { T{uint64_t{1}, 1.0, 1.0, ValueRange(0, 1)}; };
static_assert(!InitFromPriorVariance<MeanSummary>, "a bare number must not pass for a range");
static_assert(InitFromRange<MeanSummary>);

TEST(ConfidenceSequenceTest, BoundedMeansAreRegularisedByTheirRange) {
  const MeanSummary from_sums{20, 20.0, 20.0, ValueRange(0, 1)};
  EXPECT_TRUE(from_sums.is_bounded());
  EXPECT_FALSE((MeanSummary{20, 20.0, 20.0, ValueRange(1, 1)}.is_bounded()));
  const std::vector<double> ones(20, 1.0);
  const MeanSummary r = MeanSummary::bounded(0, 1, ones);  // rewards in [0, 1]
  ASSERT_TRUE(r.is_bounded());
  EXPECT_FALSE(MeanSummary::of(ones).is_bounded());
  const Estimate e = mean_cs(r, kAlpha, 0.1);
  EXPECT_DOUBLE_EQ(mean_cs(from_sums, kAlpha, 0.1).interval.lo, e.interval.lo);
  EXPECT_DOUBLE_EQ(e.value, 1.0);
  EXPECT_EQ(e.interval.hi, 1.0);  // clipped to the range
  EXPECT_LT(e.interval.lo, 0.9) << "twenty ones must not prove a mean above 0.9";
  // A bounded sample has an interval from its first value on.
  const Estimate one = mean_cs(MeanSummary::bounded(0, 1, std::vector<double>{0.5}), kAlpha, 0.1);
  EXPECT_EQ(one.interval.lo, 0.0);
  EXPECT_EQ(one.interval.hi, 1.0);
  const Estimate d = difference_cs(MeanSummary::bounded(0, 1, ones), r, kAlpha, 0.1);
  EXPECT_EQ(d.value, 0);
  EXPECT_GE(d.interval.lo, -1);
  EXPECT_LE(d.interval.hi, 1);
}

TEST(ConfidenceSequenceTest, NoInformationMeansUnboundedOrFullRange) {
  const Estimate m = mean_cs(MeanSummary{}, kAlpha, 0.1);
  EXPECT_EQ(m.interval.lo, -kInf);
  EXPECT_EQ(m.interval.hi, kInf);
  const Estimate p = proportion_cs(0, 0, kAlpha, 0.1);
  EXPECT_EQ(p.interval.lo, 0);
  EXPECT_EQ(p.interval.hi, 1);
  const Estimate d = proportion_difference_cs(0, 0, 3, 10, kAlpha, 0.1);
  EXPECT_EQ(d.interval.lo, -1);
  EXPECT_EQ(d.interval.hi, 1);
  // Invalid parameters never decide anything.
  EXPECT_EQ(judge_upper_limit(proportion_cs(0, 100000, 0, 0.1), 0.01), Verdict::kInconclusive);
  EXPECT_EQ(judge_upper_limit(proportion_cs(0, 100000, kAlpha, 0), 0.01), Verdict::kInconclusive);
}

TEST(ConfidenceSequenceTest, TooFewSamplesGiveAWideInterval) {
  const Estimate p = proportion_cs(0, 5, kAlpha, default_tau(0.01));
  EXPECT_EQ(p.value, 0);
  EXPECT_GT(p.interval.hi, 0.3);
  const Estimate d = proportion_difference_cs(0, 10, 1, 10, kAlpha, default_tau(0.01));
  EXPECT_GT(d.interval.hi - d.interval.lo, 0.5);
  EXPECT_EQ(judge_upper_limit(d, 0.01), Verdict::kInconclusive);
}

// Looks after every one of 2000 Bernoulli(0.1) samples; the share of sequences whose
// interval ever misses 0.1 must stay within alpha.
TEST(ConfidenceSequenceTest, ProportionCoverageUnderContinuousPeeking) {
  for (double tau : {0.01, 0.1}) {
    std::mt19937_64 rng(20240611);
    std::bernoulli_distribution sample(0.1);
    int escaped = 0;
    for (int seq = 0; seq < 1000; ++seq) {
      uint64_t x = 0;
      for (uint64_t n = 1; n <= 2000; ++n) {
        x += sample(rng) ? 1 : 0;
        if (!covers(proportion_cs(x, n, kAlpha, tau), 0.1)) {
          ++escaped;
          break;
        }
      }
    }
    EXPECT_LE(escaped, 50) << "tau " << tau;
  }
}

TEST(ConfidenceSequenceTest, DifferenceCoverageUnderContinuousPeeking) {
  std::mt19937_64 rng(7);
  std::bernoulli_distribution sample(0.1);
  int escaped = 0;
  for (int seq = 0; seq < 300; ++seq) {
    uint64_t x0 = 0, n0 = 0, x1 = 0, n1 = 0;
    for (int i = 0; i < 3000; ++i) {
      // A 10% canary: the candidate sees one request in ten.
      if (i % 10 == 0) {
        x1 += sample(rng) ? 1 : 0;
        ++n1;
      } else {
        x0 += sample(rng) ? 1 : 0;
        ++n0;
      }
      if (!covers(proportion_difference_cs(x0, n0, x1, n1, kAlpha, 0.05), 0.0)) {
        ++escaped;
        break;
      }
    }
  }
  EXPECT_LE(escaped, 15);
}

TEST(ConfidenceSequenceTest, MeanCoverageUnderContinuousPeeking) {
  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(5, 2);
  std::gamma_distribution<double> ga(0.2, 1), gb(1.8, 1);  // a skewed Beta(0.2, 1.8)
  int escaped_normal = 0, escaped_bounded = 0;
  for (int seq = 0; seq < 300; ++seq) {
    MeanSummary s;
    MeanSummary r = MeanSummary::bounded(0, 1);
    bool out_normal = false, out_bounded = false;
    for (int n = 0; n < 2000; ++n) {
      s.add(normal(rng));
      const double a = ga(rng), b = gb(rng);
      r.add(a / (a + b));
      out_normal = out_normal || !covers(mean_cs(s, kAlpha, 0.2), 5);
      out_bounded = out_bounded || !covers(mean_cs(r, kAlpha, 0.05), 0.1);
    }
    escaped_normal += out_normal ? 1 : 0;
    escaped_bounded += out_bounded ? 1 : 0;
  }
  EXPECT_LE(escaped_normal, 15);
  EXPECT_LE(escaped_bounded, 15);
}

// Error rate 0.2 in the candidate against none in the baseline, limit +0.01: the
// increase is proven (lo > 0.01) within a few hundred candidate samples.
TEST(ConfidenceSequenceTest, DetectsAnErrorRateIncrease) {
  const double tau = default_tau(0.01);
  std::mt19937_64 rng(3);
  std::bernoulli_distribution fails(0.2);
  uint64_t x1 = 0;
  uint64_t detected_at = 0;
  for (uint64_t n = 1; n <= 1000 && detected_at == 0; ++n) {
    x1 += fails(rng) ? 1 : 0;
    const Estimate e = proportion_difference_cs(0, n, x1, n, kAlpha, tau);
    if (judge_upper_limit(e, 0.01) == Verdict::kFail) detected_at = n;
  }
  EXPECT_GT(detected_at, 0u);
  EXPECT_LE(detected_at, 400u);
}

// Two error-free streams: "no increase beyond 0.01" is proven within a few hundred each.
TEST(ConfidenceSequenceTest, PassesIdenticalErrorFreeStreams) {
  const double tau = default_tau(0.01);
  uint64_t passed_at = 0;
  for (uint64_t n = 1; n <= 2000 && passed_at == 0; ++n) {
    const Estimate e = proportion_difference_cs(0, n, 0, n, kAlpha, tau);
    EXPECT_NE(judge_upper_limit(e, 0.01), Verdict::kFail);
    if (judge_upper_limit(e, 0.01) == Verdict::kPass) passed_at = n;
  }
  EXPECT_GT(passed_at, 0u);
  EXPECT_LE(passed_at, 500u);
}

TEST(ConfidenceSequenceTest, JudgesAgainstLimits) {
  const Estimate e{100, 0.05, {0.02, 0.08}};
  EXPECT_EQ(judge_upper_limit(e, 0.01), Verdict::kFail);
  EXPECT_EQ(judge_upper_limit(e, 0.08), Verdict::kPass);
  EXPECT_EQ(judge_upper_limit(e, 0.05), Verdict::kInconclusive);
  EXPECT_EQ(judge_lower_limit(e, 0.09), Verdict::kFail);
  EXPECT_EQ(judge_lower_limit(e, 0.02), Verdict::kPass);
  EXPECT_EQ(judge_lower_limit(e, 0.05), Verdict::kInconclusive);
  EXPECT_EQ(verdict_name(Verdict::kPass), "pass");
  EXPECT_EQ(verdict_name(Verdict::kFail), "fail");
  EXPECT_EQ(verdict_name(Verdict::kInconclusive), "inconclusive");
}

TEST(ConfidenceSequenceTest, DefaultTauHasAFloor) {
  EXPECT_DOUBLE_EQ(default_tau(0.02), 0.06);
  EXPECT_DOUBLE_EQ(default_tau(-0.02), 0.06);
  EXPECT_DOUBLE_EQ(default_tau(0), kMinTau);
  EXPECT_DOUBLE_EQ(default_tau(std::nan("")), kMinTau);
}

TEST(ConfidenceSequenceTest, RatioOfMeans) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> base(std::log(0.02), 0.5), slow(std::log(0.03), 0.5);
  MeanSummary b, same, slower;
  for (int i = 0; i < 4000; ++i) {
    b.add(base(rng));
    same.add(base(rng));
    slower.add(slow(rng));
  }
  const double tau = default_tau(std::log(1.2));
  const Estimate e_same = ratio_cs(b, same, kAlpha, tau);
  EXPECT_TRUE(covers(e_same, 1.0));
  EXPECT_EQ(judge_upper_limit(e_same, 1.2), Verdict::kPass);
  const Estimate e_slow = ratio_cs(b, slower, kAlpha, tau);
  EXPECT_NEAR(e_slow.value, 1.5, 0.1);
  EXPECT_EQ(judge_upper_limit(e_slow, 1.2), Verdict::kFail);
  EXPECT_EQ(ratio_cs(MeanSummary{}, slower, kAlpha, tau).interval.hi, kInf);
}

// The server's latency buckets: bound i = 10µs * 1.25^i; the last is unbounded.
std::vector<double> server_bounds() {
  std::vector<double> b;
  for (int i = 0; i < 63; ++i) b.push_back(10e-6 * std::pow(1.25, i));
  b.push_back(kInf);
  return b;
}

int server_bucket(double seconds) {
  if (seconds < 10e-6) return 0;
  const int i = 1 + static_cast<int>(std::log(seconds / 10e-6) / std::log(1.25));
  return i < 63 ? i : 63;
}

std::vector<uint64_t> latency_histogram(std::mt19937_64& rng, double median_s, int n) {
  std::lognormal_distribution<double> d(std::log(median_s), 0.5);
  std::vector<uint64_t> counts(64, 0);
  for (int i = 0; i < n; ++i) ++counts[server_bucket(d(rng))];
  return counts;
}

TEST(ConfidenceSequenceTest, HistogramQuantileInterpolatesInsideBuckets) {
  const std::vector<double> bounds = {1, 2, 4, kInf};
  EXPECT_EQ(histogram_quantile(std::vector<uint64_t>{0, 0, 0, 0}, bounds, 0.5), 0);
  EXPECT_EQ(histogram_quantile(std::vector<uint64_t>{1, 2}, bounds, 0.5), 0);  // size mismatch
  const std::vector<uint64_t> counts = {10, 10, 0, 0};
  EXPECT_DOUBLE_EQ(histogram_quantile(counts, bounds, 0.25), 0.5);
  EXPECT_DOUBLE_EQ(histogram_quantile(counts, bounds, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(histogram_quantile(counts, bounds, 0.75), 1.5);
  EXPECT_DOUBLE_EQ(histogram_quantile(std::vector<uint64_t>{0, 0, 0, 5}, bounds, 0.99), 4.0);

  std::mt19937_64 rng(9);
  const auto h = latency_histogram(rng, 0.02, 50000);
  const double p99 = histogram_quantile(h, server_bounds(), 0.99);
  const double truth = 0.02 * std::exp(2.3263 * 0.5);
  EXPECT_NEAR(p99 / truth, 1.0, 0.05);
}

TEST(ConfidenceSequenceTest, ExceedanceCountsTheStraddlingBucketByWidth) {
  const std::vector<double> bounds = {1, 2, 4, kInf};
  const std::vector<uint64_t> counts = {50, 40, 8, 2};
  // Above 3: half of [2, 4) and all of the unbounded bucket -> 6 of 100.
  EXPECT_NEAR(exceedance_cs(counts, bounds, 3, kAlpha, 0.01).value, 0.06, 1e-12);
  EXPECT_NEAR(exceedance_cs(counts, bounds, 0.5, kAlpha, 0.01).value, 0.75, 1e-12);
  EXPECT_NEAR(exceedance_cs(counts, bounds, 100, kAlpha, 0.01).value, 0.02, 1e-12);
}

// p99 test as the controller does it: the candidate's share above 1.2 x the
// baseline's p99 must be at most 1%.
TEST(ConfidenceSequenceTest, LatencyP99ThroughExceedance) {
  std::mt19937_64 rng(13);
  const auto bounds = server_bounds();
  const auto baseline = latency_histogram(rng, 0.02, 20000);
  const double limit = 1.2 * histogram_quantile(baseline, bounds, 0.99);
  const double tau = default_tau(0.01);

  const auto same = latency_histogram(rng, 0.02, 5000);
  EXPECT_EQ(judge_upper_limit(exceedance_cs(same, bounds, limit, kAlpha, tau), 0.01), Verdict::kPass);
  const auto slower = latency_histogram(rng, 0.03, 5000);
  EXPECT_EQ(judge_upper_limit(exceedance_cs(slower, bounds, limit, kAlpha, tau), 0.01), Verdict::kFail);
  const auto few = latency_histogram(rng, 0.03, 50);
  EXPECT_EQ(judge_upper_limit(exceedance_cs(few, bounds, limit, kAlpha, tau), 0.01),
            Verdict::kInconclusive);
}

}  // namespace
}  // namespace quiver::rollout
