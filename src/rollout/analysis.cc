#include "rollout/analysis.h"

#include <fmt/format.h>

#include <cmath>

namespace quiver::rollout {
namespace {

MetricVerdict start(const AnalysisMetric& m) {
  MetricVerdict v;
  v.name = m.name;
  v.critical = m.critical;
  return v;
}

// Too few samples: nothing may be concluded, whatever the interval says.
void require_samples(MetricVerdict& v, uint64_t n_base, uint64_t n_cand, uint64_t min_samples, bool needs_baseline) {
  if (n_cand < std::max<uint64_t>(min_samples, 1) || (needs_baseline && n_base < std::max<uint64_t>(min_samples, 1)))
    v.verdict = Verdict::kInconclusive;
}

MetricVerdict error_rate(const AnalysisMetric& m, const AnalysisConfig& c, const WindowEvidence& w) {
  MetricVerdict v = start(m);
  const auto& b = w.baseline;
  const auto& k = w.candidate;
  v.n = k.requests;
  v.value = k.requests ? static_cast<double>(k.errors) / static_cast<double>(k.requests) : 0;
  v.baseline = b.requests ? static_cast<double>(b.errors) / static_cast<double>(b.requests) : 0;
  Estimate e;
  bool needs_baseline = true;
  if (m.max) {
    e = proportion_cs(k.errors, k.requests, c.alpha, default_tau(*m.max));
    v.limit = *m.max;
    needs_baseline = false;
  } else if (m.max_ratio) {
    // candidate - ratio * baseline <= 0, as a difference of means of 0/1 outcomes.
    const double r = *m.max_ratio;
    MeanSummary base{b.requests, r * static_cast<double>(b.errors), r * r * static_cast<double>(b.errors), ValueRange(0, r)};
    MeanSummary cand{k.requests, static_cast<double>(k.errors), static_cast<double>(k.errors), ValueRange(0, 1)};
    e = difference_cs(base, cand, c.alpha, default_tau(std::max(0.01, v.baseline * (r - 1))));
    v.limit = 0;
  } else {
    const double inc = m.max_increase.value_or(0);
    e = proportion_difference_cs(b.errors, b.requests, k.errors, k.requests, c.alpha, default_tau(std::max(inc, 0.01)));
    v.limit = inc;
  }
  v.estimate = e.value;
  v.interval = e.interval;
  v.verdict = judge_upper_limit(e, v.limit);
  require_samples(v, b.requests, k.requests, c.min_samples, needs_baseline);
  v.detail = fmt::format("candidate error rate {:.4f} (n={}) vs baseline {:.4f} (n={})", v.value, k.requests,
                         v.baseline, b.requests);
  return v;
}

MetricVerdict latency(const AnalysisMetric& m, const AnalysisConfig& c, const WindowEvidence& w,
                      const std::vector<double>& bounds, double q) {
  MetricVerdict v = start(m);
  const auto& bb = w.baseline.latency_buckets;
  const auto& kb = w.candidate.latency_buckets;
  uint64_t nb = 0, nk = 0;
  for (auto x : bb) nb += x;
  for (auto x : kb) nk += x;
  v.n = nk;
  v.value = histogram_quantile(kb, bounds, q) * 1e3;
  v.baseline = histogram_quantile(bb, bounds, q) * 1e3;
  double limit_ms = 0;
  bool needs_baseline = true;
  if (m.max) {
    limit_ms = *m.max;
    needs_baseline = false;
  } else if (m.max_ratio) {
    limit_ms = v.baseline * *m.max_ratio;
  } else {
    limit_ms = v.baseline + m.max_increase.value_or(0);
  }
  // If the candidate's q-quantile is within the limit, at most a share 1-q of its
  // requests take longer than the limit: test that share.
  const double allowed = 1 - q;
  Estimate e = exceedance_cs(kb, bounds, limit_ms / 1e3, c.alpha, default_tau(std::max(allowed, 0.01)));
  v.estimate = e.value;
  v.interval = e.interval;
  v.limit = allowed;
  v.verdict = judge_upper_limit(e, allowed);
  require_samples(v, nb, nk, c.min_samples, needs_baseline);
  v.detail = fmt::format("candidate p{:g} {:.3f} ms vs limit {:.3f} ms (baseline {:.3f} ms); {:.4f} of candidate "
                         "requests above the limit, {:.4f} allowed",
                         q * 100, v.value, limit_ms, v.baseline, e.value, allowed);
  return v;
}

MetricVerdict shadow_agreement(const AnalysisMetric& m, const AnalysisConfig& c, const WindowEvidence& w) {
  MetricVerdict v = start(m);
  const auto& k = w.candidate;
  v.n = k.shadow_top1_rows;
  Estimate e = proportion_cs(k.shadow_top1_agree, k.shadow_top1_rows, c.alpha,
                             default_tau(std::max(0.01, 1 - m.min.value_or(1))));
  v.value = v.estimate = e.value;
  v.interval = e.interval;
  v.limit = m.min.value_or(0);
  v.verdict = judge_lower_limit(e, v.limit);
  require_samples(v, 0, v.n, c.min_samples, false);
  v.detail = fmt::format("top-1 agreement with the baseline {:.4f} over {} mirrored rows, min {:g}", e.value, v.n, v.limit);
  return v;
}

MetricVerdict shadow_mad(const AnalysisMetric& m, const AnalysisConfig& c, const WindowEvidence& w) {
  MetricVerdict v = start(m);
  const auto& k = w.candidate;
  v.n = k.shadow_compared;
  MeanSummary s{k.shadow_compared, k.shadow_mad_sum, k.shadow_mad_sq_sum, std::nullopt};
  Estimate e = mean_cs(s, c.alpha, default_tau(m.max.value_or(0.01)));
  v.value = v.estimate = e.value;
  v.interval = e.interval;
  v.limit = m.max.value_or(0);
  v.verdict = judge_upper_limit(e, v.limit);
  require_samples(v, 0, v.n, c.min_samples, false);
  v.detail = fmt::format("mean abs diff from the baseline {:.6f} over {} mirrored requests, max {:g}", e.value, v.n, v.limit);
  return v;
}

MetricVerdict accuracy(const AnalysisMetric& m, const AnalysisConfig& c, const WindowEvidence& w) {
  MetricVerdict v = start(m);
  const auto& b = w.baseline;
  const auto& k = w.candidate;
  v.n = k.feedback_n;
  v.value = k.feedback_n ? static_cast<double>(k.correct) / static_cast<double>(k.feedback_n) : 0;
  v.baseline = b.feedback_n ? static_cast<double>(b.correct) / static_cast<double>(b.feedback_n) : 0;
  Estimate e;
  bool needs_baseline = !m.min;
  if (m.min) {
    e = proportion_cs(k.correct, k.feedback_n, c.alpha, default_tau(0.02));
    v.limit = *m.min;
  } else {
    const double dec = m.max_decrease.value_or(0);
    e = proportion_difference_cs(b.correct, b.feedback_n, k.correct, k.feedback_n, c.alpha,
                                 default_tau(std::max(dec, 0.01)));
    v.limit = -dec;
  }
  v.estimate = e.value;
  v.interval = e.interval;
  v.verdict = judge_lower_limit(e, v.limit);
  require_samples(v, b.feedback_n, k.feedback_n, c.min_samples, needs_baseline);
  v.detail = fmt::format("candidate accuracy {:.4f} (n={}) vs baseline {:.4f} (n={}) from feedback", v.value,
                         k.feedback_n, v.baseline, b.feedback_n);
  return v;
}

MetricVerdict mean_reward(const AnalysisMetric& m, const AnalysisConfig& c, const WindowEvidence& w) {
  MetricVerdict v = start(m);
  const auto& b = w.baseline;
  const auto& k = w.candidate;
  MeanSummary sb{b.reward_n, b.reward_sum, b.reward_sq_sum, ValueRange(0, 1)};
  MeanSummary sk{k.reward_n, k.reward_sum, k.reward_sq_sum, ValueRange(0, 1)};
  v.n = k.reward_n;
  v.value = sk.mean();
  v.baseline = sb.mean();
  Estimate e;
  bool needs_baseline = !m.min;
  if (m.min) {
    e = mean_cs(sk, c.alpha, default_tau(0.02));
    v.limit = *m.min;
  } else {
    const double dec = m.max_decrease.value_or(0);
    e = difference_cs(sb, sk, c.alpha, default_tau(std::max(dec, 0.01)));
    v.limit = -dec;
  }
  v.estimate = e.value;
  v.interval = e.interval;
  v.verdict = judge_lower_limit(e, v.limit);
  require_samples(v, b.reward_n, k.reward_n, c.min_samples, needs_baseline);
  v.detail = fmt::format("candidate mean reward {:.4f} (n={}) vs baseline {:.4f} (n={})", v.value, k.reward_n,
                         v.baseline, b.reward_n);
  return v;
}

}  // namespace

std::vector<MetricVerdict> analyze(const AnalysisConfig& config, const WindowEvidence& window,
                                   const std::vector<double>& bounds, StepKind step) {
  std::vector<MetricVerdict> out;
  for (const AnalysisMetric& m : config.metrics) {
    MetricVerdict v;
    if (m.name == "error_rate") v = error_rate(m, config, window);
    else if (m.name == "latency_p50") v = latency(m, config, window, bounds, 0.5);
    else if (m.name == "latency_p99") v = latency(m, config, window, bounds, 0.99);
    else if (m.name == "shadow_top1_agreement") v = shadow_agreement(m, config, window);
    else if (m.name == "shadow_mean_abs_diff") v = shadow_mad(m, config, window);
    else if (m.name == "accuracy") v = accuracy(m, config, window);
    else if (m.name == "mean_reward") v = mean_reward(m, config, window);
    else continue;  // the spec parser admits only the names above
    const bool shadow_metric = m.name.rfind("shadow_", 0) == 0;
    const bool feedback_metric = m.name == "accuracy" || m.name == "mean_reward";
    if ((shadow_metric && !step.mirrors) || (feedback_metric && !step.live)) {
      v.applies = false;
      v.verdict = Verdict::kInconclusive;
      v.detail = shadow_metric ? "not measured: this step mirrors no traffic"
                               : "not measured: the candidate answers no users in this step";
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace quiver::rollout
