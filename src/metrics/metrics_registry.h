// MetricsRegistry: owns every metric of the process and renders them for /metrics.
//
// A metric is identified by its family name plus its label set. Asking for the same
// name and labels again returns the same object, so callers look a metric up once
// (taking the registry's mutex) and keep the reference for the hot path, where
// updates are lock-free. References stay valid until remove() or the registry's end.
//
// Preconditions (programming errors, checked with a message and abort, because metric
// and label names are constants in the code, never user input):
//   - names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and do
//     not start with "__"; histograms may not use the label "le";
//   - one name is always used with the same kind (counter, gauge or histogram).
// Label values are arbitrary strings (model names, versions) and are escaped.
// Label order does not matter: {a,b} and {b,a} name the same series.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "metrics/metrics.h"

namespace quiver::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // `help` is taken from the first call for a family; later calls may pass anything.
  Counter& counter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge& gauge(std::string_view name, std::string_view help, const Labels& labels = {});
  // `bounds` apply when the series is created; an existing series keeps its own.
  Histogram& histogram(std::string_view name, std::string_view help, const Labels& labels = {},
                       std::vector<double> bounds = default_latency_buckets());

  // Drops one series (e.g. when a model version is unloaded) so it stops being
  // exported. The caller guarantees no one still uses its reference. Returns whether
  // the series existed. A family left without series is dropped too.
  bool remove(std::string_view name, const Labels& labels);

  // Adds families whose values are read at scrape time rather than recorded (the
  // process_* metrics, read from /proc). The collector appends complete families
  // (HELP, TYPE, samples) in exposition format to `out`. It runs inside render(),
  // without the registry's mutex held, so it may be slow-ish (a few syscalls) but
  // must not call back into this registry. Setting a collector under a key that
  // already has one replaces it, so assembling a server twice in one process (tests)
  // does not export a family twice.
  using Collector = std::function<void(std::string& out)>;
  void set_collector(std::string_view key, Collector collector);

  // Prometheus text exposition format 0.0.4: families sorted by name, series by
  // labels, then what the collectors add, in the order of their keys.
  std::string render() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  using Series = std::variant<std::unique_ptr<Counter>, std::unique_ptr<Gauge>, std::unique_ptr<Histogram>>;
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, Series> series;  // labels sorted by name
  };

  // Finds or creates the family and the series slot; creates nothing inside the slot.
  Series& slot(std::string_view name, std::string_view help, Kind kind, const Labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
  std::map<std::string, std::shared_ptr<const Collector>, std::less<>> collectors_;
};

// The process-wide registry that /metrics renders. Modules may also take a
// MetricsRegistry& explicitly (tests do, to stay isolated).
MetricsRegistry& default_registry();

}  // namespace quiver::metrics
