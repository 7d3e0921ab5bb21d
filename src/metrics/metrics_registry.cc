#include "metrics/metrics_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace quiver::metrics {
namespace {

[[noreturn]] void fail(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "quiver metrics: %.*s: '%.*s'\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(name.size()), name.data());
  std::abort();
}

bool is_name_char(char c, bool first, bool allow_colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  if (alpha || (allow_colon && c == ':')) return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i)
    if (!is_name_char(s[i], i == 0, allow_colon)) return false;
  return true;
}

// The same series whatever order the caller lists labels in.
Labels canonical(const Labels& labels, bool histogram) {
  Labels out = labels;
  std::sort(out.begin(), out.end());
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& key = out[i].first;
    if (!valid_name(key, false) || key.starts_with("__")) fail("invalid label name", key);
    if (histogram && key == "le") fail("histograms reserve the label name", key);
    if (i > 0 && out[i - 1].first == key) fail("duplicate label name", key);
  }
  return out;
}

// HELP text escapes backslash and newline; label values also escape the quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
}

// Shortest text that reads back as the same double; integers without exponent.
void append_number(std::string& out, double v) {
  if (std::isnan(v)) { out += "NaN"; return; }
  if (std::isinf(v)) { out += v > 0 ? "+Inf" : "-Inf"; return; }
  char buf[32];
  std::to_chars_result r{};
  if (v == std::trunc(v) && std::fabs(v) < 1e15)
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  else
    r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// `{a="x",b="y"}`, with an optional extra label (le) last; nothing when empty.
void append_labels(std::string& out, const Labels& labels, std::string_view extra_key = {},
                   std::string_view extra_value = {}) {
  if (labels.empty() && extra_key.empty()) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_escaped(out, v, true);
    out += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_key.empty()) one(extra_key, extra_value);
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix, const Labels& labels) {
  out += name;
  out += suffix;
  append_labels(out, labels);
  out += ' ';
}

void render_histogram(std::string& out, const std::string& name, const Labels& labels, const Histogram& h) {
  const HistogramSnapshot s = h.snapshot();
  std::string le;
  for (size_t i = 0; i <= s.bounds.size(); ++i) {
    le.clear();
    if (i < s.bounds.size()) append_number(le, s.bounds[i]);
    else le = "+Inf";
    out += name;
    out += "_bucket";
    append_labels(out, labels, "le", le);
    out += ' ';
    append_uint(out, s.cumulative[i]);
    out += '\n';
  }
  append_sample(out, name, "_sum", labels);
  append_number(out, s.sum);
  out += '\n';
  append_sample(out, name, "_count", labels);
  append_uint(out, s.count);
  out += '\n';
}

}  // namespace

MetricsRegistry::Series& MetricsRegistry::slot(std::string_view name, std::string_view help, Kind kind,
                                               const Labels& labels) {
  if (!valid_name(name, true)) fail("invalid metric name", name);
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(std::string(name), Family{kind, std::string(help), {}}).first;
  if (it->second.kind != kind) fail("metric name reused with a different kind", name);
  return it->second.series[canonical(labels, kind == Kind::kHistogram)];
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = slot(name, help, Kind::kCounter, labels);
  auto& p = std::holds_alternative<std::unique_ptr<Counter>>(s) ? std::get<std::unique_ptr<Counter>>(s)
                                                                 : s.emplace<std::unique_ptr<Counter>>();
  if (!p) p = std::make_unique<Counter>();
  return *p;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const Labels& labels) {
  std::lock_guard lock(mu_);
  Series& s = slot(name, help, Kind::kGauge, labels);
  auto& p = std::holds_alternative<std::unique_ptr<Gauge>>(s) ? std::get<std::unique_ptr<Gauge>>(s)
                                                               : s.emplace<std::unique_ptr<Gauge>>();
  if (!p) p = std::make_unique<Gauge>();
  return *p;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help, const Labels& labels,
                                      std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  Series& s = slot(name, help, Kind::kHistogram, labels);
  auto& p = std::holds_alternative<std::unique_ptr<Histogram>>(s) ? std::get<std::unique_ptr<Histogram>>(s)
                                                                   : s.emplace<std::unique_ptr<Histogram>>();
  if (!p) p = std::make_unique<Histogram>(std::move(bounds));
  return *p;
}

bool MetricsRegistry::remove(std::string_view name, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return false;
  Labels key = labels;
  std::sort(key.begin(), key.end());
  const bool erased = it->second.series.erase(key) > 0;
  if (it->second.series.empty()) families_.erase(it);
  return erased;
}

void MetricsRegistry::set_collector(std::string_view key, Collector collector) {
  std::lock_guard lock(mu_);
  collectors_[std::string(key)] = std::make_shared<const Collector>(std::move(collector));
}

std::string MetricsRegistry::render() const {
  std::unique_lock lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP ";
    out += name;
    out += ' ';
    append_escaped(out, family.help, false);
    out += "\n# TYPE ";
    out += name;
    switch (family.kind) {
      case Kind::kCounter: out += " counter\n"; break;
      case Kind::kGauge: out += " gauge\n"; break;
      case Kind::kHistogram: out += " histogram\n"; break;
    }
    for (const auto& [labels, series] : family.series) {
      if (const auto* c = std::get_if<std::unique_ptr<Counter>>(&series)) {
        append_sample(out, name, "", labels);
        append_uint(out, (*c)->value());
        out += '\n';
      } else if (const auto* g = std::get_if<std::unique_ptr<Gauge>>(&series)) {
        append_sample(out, name, "", labels);
        append_number(out, (*g)->value());
        out += '\n';
      } else if (const auto* h = std::get_if<std::unique_ptr<Histogram>>(&series)) {
        render_histogram(out, name, labels, **h);
      }
    }
  }
  const auto collectors = collectors_;
  lock.unlock();
  for (const auto& [key, collect] : collectors) (*collect)(out);
  return out;
}

MetricsRegistry& default_registry() {
  // Never destroyed: threads still recording during exit must not touch a dead object.
  static auto* registry = new MetricsRegistry();
  return *registry;
}

}  // namespace quiver::metrics
