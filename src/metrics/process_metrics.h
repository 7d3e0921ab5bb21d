// The standard process_* metrics every Prometheus client exports, read from /proc
// at scrape time so they cost nothing between scrapes:
//   process_cpu_seconds_total      user + system CPU time       (counter)
//   process_resident_memory_bytes  resident set size            (gauge)
//   process_virtual_memory_bytes   virtual memory size          (gauge)
//   process_open_fds               open file descriptors        (gauge)
//   process_max_fds                the soft RLIMIT_NOFILE       (gauge)
//   process_start_time_seconds     start, seconds since epoch   (gauge)
// Names, units and types follow the conventions of Prometheus' own client
// libraries, so dashboards written for any other process work unchanged.
//
// Thread-safety: the parsing functions are pure; the collector may run from any
// number of scrapes at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "metrics/metrics_registry.h"

namespace quiver::metrics {

// The fields of /proc/<pid>/stat that the metrics need, in the kernel's units.
struct ProcStat {
  uint64_t utime_ticks = 0;      // field 14
  uint64_t stime_ticks = 0;      // field 15
  uint64_t starttime_ticks = 0;  // field 22: since boot
  uint64_t vsize_bytes = 0;      // field 23
  int64_t rss_pages = 0;         // field 24
};

// Parses one /proc/<pid>/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
Result<ProcStat> parse_proc_stat(std::string_view text);

// The "btime" line of /proc/stat: boot time in seconds since the epoch.
Result<int64_t> parse_boot_time(std::string_view proc_stat_text);

// One snapshot of the process, in the units of the exported metrics.
struct ProcessSample {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;
};

// Converts kernel units (clock ticks, pages) to seconds and bytes.
ProcessSample to_sample(const ProcStat& stat, int64_t ticks_per_second, int64_t page_bytes,
                        std::optional<int64_t> boot_time_seconds);

// Appends the process_* families for `sample` in exposition format.
void render_process_sample(const ProcessSample& sample, std::string& out);

// Reads this process' sample from /proc; an error when /proc is not mounted.
Result<ProcessSample> read_self_sample();

// Installs a collector that renders this process' metrics on every scrape (nothing
// when /proc cannot be read). Idempotent.
void register_process_metrics(MetricsRegistry& registry);

}  // namespace quiver::metrics
