#include "routing/shadow_compare.h"

#include <cmath>

#include "metrics/metrics_registry.h"

namespace quiver::routing {
namespace {

// Reads element i of a numeric tensor as double; nullopt for BYTES.
std::optional<double> element(const Tensor& t, size_t i) {
  switch (t.dtype()) {
    case DataType::kBool:
    case DataType::kUint8: return static_cast<double>(t.values<uint8_t>()[i]);
    case DataType::kInt8: return static_cast<double>(t.values<int8_t>()[i]);
    case DataType::kUint16: return static_cast<double>(t.values<uint16_t>()[i]);
    case DataType::kInt16: return static_cast<double>(t.values<int16_t>()[i]);
    case DataType::kUint32: return static_cast<double>(t.values<uint32_t>()[i]);
    case DataType::kInt32: return static_cast<double>(t.values<int32_t>()[i]);
    case DataType::kUint64: return static_cast<double>(t.values<uint64_t>()[i]);
    case DataType::kInt64: return static_cast<double>(t.values<int64_t>()[i]);
    case DataType::kFp32: return static_cast<double>(t.values<float>()[i]);
    case DataType::kFp64: return t.values<double>()[i];
    case DataType::kFp16:
    case DataType::kBytes: return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

Result<OutputDiff> compare_outputs(const std::vector<Tensor>& primary, const std::vector<Tensor>& shadow) {
  OutputDiff d;
  for (const Tensor& p : primary) {
    const Tensor* s = nullptr;
    for (const Tensor& t : shadow)
      if (t.name() == p.name()) s = &t;
    if (!s) return invalid_argument("shadow has no output '" + p.name() + "'");
    if (s->shape() != p.shape())
      return invalid_argument("output '" + p.name() + "' has shape " + shape_to_string(s->shape()) +
                              " in the shadow but " + shape_to_string(p.shape()) + " in the primary");
    const int64_t n = p.element_count();
    if (n > 0 && (!element(p, 0) || !element(*s, 0)))
      return invalid_argument("output '" + p.name() + "' has a datatype that cannot be compared numerically");
    for (int64_t i = 0; i < n; ++i) {
      const double diff = std::fabs(*element(p, i) - *element(*s, i));
      d.max_abs_diff = std::max(d.max_abs_diff, diff);
      d.sum_abs_diff += diff;
    }
    d.elements += static_cast<uint64_t>(n);
    // Class scores: [rows, classes] with more than one class -> compare arg-max per row.
    if (p.shape().size() == 2 && p.shape()[1] > 1) {
      const int64_t rows = p.shape()[0], cols = p.shape()[1];
      for (int64_t r = 0; r < rows; ++r) {
        int64_t ap = 0, as = 0;
        for (int64_t c = 1; c < cols; ++c) {
          if (*element(p, r * cols + c) > *element(p, r * cols + ap)) ap = c;
          if (*element(*s, r * cols + c) > *element(*s, r * cols + as)) as = c;
        }
        ++d.top1_rows;
        if (ap == as) ++d.top1_agree;
      }
    }
  }
  return d;
}

ShadowTracker::Acc& ShadowTracker::acc(const std::string& model, int64_t primary, int64_t shadow) {
  auto [it, inserted] = pairs_.try_emplace({model, primary, shadow});
  if (inserted) {
    it->second.s.model = model;
    it->second.s.primary = primary;
    it->second.s.shadow = shadow;
  }
  return it->second;
}

void ShadowTracker::record(const std::string& model, int64_t primary, int64_t shadow, const OutputDiff& diff) {
  std::lock_guard lock(mu_);
  Acc& a = acc(model, primary, shadow);
  a.s.compared++;
  a.s.max_abs_diff = std::max(a.s.max_abs_diff, diff.max_abs_diff);
  a.sum_abs += diff.sum_abs_diff;
  a.elements += diff.elements;
  a.s.top1_rows += diff.top1_rows;
  a.s.top1_agree += diff.top1_agree;
  const double request_mad = diff.elements ? diff.sum_abs_diff / static_cast<double>(diff.elements) : 0;
  a.s.request_mad_sum += request_mad;
  a.s.request_mad_sq_sum += request_mad * request_mad;
  a.s.mean_abs_diff = a.elements ? a.sum_abs / static_cast<double>(a.elements) : 0;
  a.s.top1_agreement =
      a.s.top1_rows ? static_cast<double>(a.s.top1_agree) / static_cast<double>(a.s.top1_rows) : 1.0;
  export_metrics(a);
}

void ShadowTracker::record_error(const std::string& model, int64_t primary, int64_t shadow) {
  std::lock_guard lock(mu_);
  Acc& a = acc(model, primary, shadow);
  a.s.errors++;
  export_metrics(a);
}

void ShadowTracker::export_metrics(const Acc& a) {
  if (!metrics_) return;
  const metrics::Labels l = {{"model", a.s.model},
                             {"version", std::to_string(a.s.primary)},
                             {"shadow_version", std::to_string(a.s.shadow)}};
  metrics_->gauge("quiver_shadow_compared", "Requests whose shadow outputs were compared", l)
      .set(static_cast<double>(a.s.compared));
  metrics_->gauge("quiver_shadow_errors", "Shadow requests that failed or could not be compared", l)
      .set(static_cast<double>(a.s.errors));
  metrics_->gauge("quiver_shadow_max_abs_diff", "Largest absolute output difference, shadow vs primary", l)
      .set(a.s.max_abs_diff);
  metrics_->gauge("quiver_shadow_mean_abs_diff", "Mean absolute output difference, shadow vs primary", l)
      .set(a.s.mean_abs_diff);
  metrics_->gauge("quiver_shadow_top1_agreement", "Share of rows whose arg-max class agrees", l)
      .set(a.s.top1_agreement);
}

std::vector<ShadowPairStats> ShadowTracker::stats(const std::string& model) const {
  std::lock_guard lock(mu_);
  std::vector<ShadowPairStats> out;
  for (const auto& [key, a] : pairs_)
    if (std::get<0>(key) == model) out.push_back(a.s);
  return out;
}

void ShadowComparison::set_primary(const Result<std::vector<Tensor>>& r) {
  std::lock_guard lock(mu_);
  primary_result_ = r;
  finish_locked();
}

void ShadowComparison::set_shadow(const Result<std::vector<Tensor>>& r) {
  std::lock_guard lock(mu_);
  shadow_result_ = r;
  finish_locked();
}

void ShadowComparison::finish_locked() {
  if (!primary_result_ || !shadow_result_) return;
  if (!primary_result_->is_ok()) return;  // nothing to compare against
  if (!shadow_result_->is_ok()) {
    tracker_.record_error(model_, primary_, shadow_);
    return;
  }
  auto diff = compare_outputs(primary_result_->value(), shadow_result_->value());
  if (diff.is_ok()) {
    tracker_.record(model_, primary_, shadow_, *diff);
  } else {
    tracker_.record_error(model_, primary_, shadow_);
  }
}

}  // namespace quiver::routing
