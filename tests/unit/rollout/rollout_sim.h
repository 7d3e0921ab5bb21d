// A simulated deployment for rollout controller tests: synthetic requests split by the
// traffic of the model's current revision, with per-version error rates, latencies and
// shadow agreement, all from a seeded generator and an injected clock (no sleeping).
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "registry/deployment_spec_json.h"
#include "registry/registry.h"
#include "rollout/signals.h"

namespace quiver::rollout::testing {

struct VersionBehaviour {
  double error_rate = 0.001;
  double latency_ms = 10;     // median
  double latency_sigma = 0.3; // of the log
  double agreement = 1.0;     // top-1 agreement with the baseline when mirrored
  double accuracy = 0.95;     // share of answered users whose feedback says "correct"
};

class SimSignals final : public SignalSource {
 public:
  explicit SimSignals(registry::Registry& reg, uint64_t seed) : reg_(reg), rng_(seed) {
    for (int i = 0; i < 64; ++i) bounds_.push_back(10e-6 * std::pow(1.25, i));
    bounds_.back() = std::numeric_limits<double>::infinity();
  }

  VersionCounters read(const std::string&, int64_t version, int64_t shadow_of) const override {
    VersionCounters c = counters_.count(version) ? counters_.at(version) : VersionCounters{};
    if (!shadow_of) {
      c.shadow_compared = c.shadow_top1_rows = c.shadow_top1_agree = 0;
      c.shadow_mad_sum = c.shadow_mad_sq_sum = 0;
    }
    if (c.latency_buckets.empty()) c.latency_buckets.assign(64, 0);
    return c;
  }
  const std::vector<double>& latency_bounds() const override { return bounds_; }
  int64_t serving_revision(const std::string& model) const override {
    if (frozen_revision_ >= 0) return frozen_revision_;
    auto cur = reg_.current_deployment(model);
    return cur.is_ok() && *cur ? (*cur)->revision : 0;
  }

  // Sends `n` requests split by the current revision's traffic and shadow.
  void traffic(const std::string& model, int n) {
    auto cur = reg_.current_deployment(model);
    if (!cur.is_ok() || !*cur) return;
    auto spec = registry::parse_deployment_spec((*cur)->spec_json);
    if (!spec.is_ok()) return;
    uint64_t total = 0;
    for (const auto& tw : spec->traffic) total += tw.weight;
    std::uniform_real_distribution<double> u(0, 1);
    for (int i = 0; i < n; ++i) {
      int64_t version = spec->versions[0].version.version;
      double draw = u(rng_) * static_cast<double>(total), acc = 0;
      for (const auto& tw : spec->traffic) {
        acc += tw.weight;
        if (draw < acc) {
          version = tw.version.version;
          break;
        }
      }
      serve(version);
      for (const auto& sh : spec->shadow)
        if (sh.version.version != version && u(rng_) * 100 < sh.percent) mirror(sh.version.version);
    }
  }

  std::map<int64_t, VersionBehaviour> behaviour;
  std::map<int64_t, uint64_t> served;  // live requests per version
  int64_t frozen_revision_ = -1;       // >= 0: pretend the manager serves this revision

 private:
  // A live request, or a mirrored one (it runs on the version too, so it counts in the
  // version's requests, errors and latency, as on a real server).
  void serve(int64_t version, bool live = true) {
    auto& c = counters_[version];
    if (c.latency_buckets.empty()) c.latency_buckets.assign(64, 0);
    const auto& b = behaviour[version];
    std::uniform_real_distribution<double> u(0, 1);
    if (live) {
      ++served[version];
      // Every user answer gets feedback (only answers users saw can).
      ++c.feedback_n;
      c.correct += u(rng_) < b.accuracy ? 1 : 0;
    }
    ++c.requests;
    if (u(rng_) < b.error_rate) {
      ++c.errors;
      return;
    }
    std::lognormal_distribution<double> lat(std::log(b.latency_ms / 1e3), b.latency_sigma);
    const double s = lat(rng_);
    size_t i = 0;
    while (i + 1 < bounds_.size() && s >= bounds_[i]) ++i;
    ++c.latency_buckets[i];
  }
  void mirror(int64_t version) {
    serve(version, false);
    auto& c = counters_[version];
    std::uniform_real_distribution<double> u(0, 1);
    ++c.shadow_compared;
    ++c.shadow_top1_rows;
    const bool agree = u(rng_) < behaviour[version].agreement;
    c.shadow_top1_agree += agree ? 1 : 0;
    const double mad = agree ? 0.001 : 0.3;
    c.shadow_mad_sum += mad;
    c.shadow_mad_sq_sum += mad * mad;
  }

  registry::Registry& reg_;
  std::mt19937_64 rng_;
  std::vector<double> bounds_;
  std::map<int64_t, VersionCounters> counters_;
};

}  // namespace quiver::rollout::testing
