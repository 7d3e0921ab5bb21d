#include "metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace quiver::metrics {
namespace {

template <typename T>
bool parse_int(std::string_view text, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    const size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n') ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

std::optional<std::string> read_file(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void append_value(std::string& out, double v) {
  char buf[32];
  std::to_chars_result r{};
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v);
  }
  out.append(buf, r.ptr);
}

void append_family(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   double value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  out.append(name).append(" ");
  append_value(out, value);
  out.append("\n");
}

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return invalid_argument("/proc stat line has no command name");
  // After ")": field 3 (state) onwards; index 0 here is field 3.
  const std::vector<std::string_view> f = split_spaces(text.substr(close + 1));
  auto field = [&](int number) { return f[static_cast<size_t>(number - 3)]; };
  if (f.size() < 22) return invalid_argument("/proc stat line has too few fields");
  ProcStat s;
  if (!parse_int(field(14), s.utime_ticks) || !parse_int(field(15), s.stime_ticks) ||
      !parse_int(field(22), s.starttime_ticks) || !parse_int(field(23), s.vsize_bytes) ||
      !parse_int(field(24), s.rss_pages)) {
    return invalid_argument("/proc stat line has a field that is not a number");
  }
  return s;
}

Result<int64_t> parse_boot_time(std::string_view proc_stat_text) {
  size_t at = 0;
  while (at < proc_stat_text.size()) {
    size_t end = proc_stat_text.find('\n', at);
    if (end == std::string_view::npos) end = proc_stat_text.size();
    const std::string_view line = proc_stat_text.substr(at, end - at);
    if (line.starts_with("btime ")) {
      int64_t seconds = 0;
      if (parse_int(line.substr(6), seconds)) return seconds;
      return invalid_argument("/proc/stat has a malformed btime line");
    }
    at = end + 1;
  }
  return not_found("/proc/stat has no btime line");
}

ProcessSample to_sample(const ProcStat& stat, int64_t ticks_per_second, int64_t page_bytes,
                        std::optional<int64_t> boot_time_seconds) {
  ProcessSample s;
  const double ticks = static_cast<double>(ticks_per_second > 0 ? ticks_per_second : 100);
  s.cpu_seconds = static_cast<double>(stat.utime_ticks + stat.stime_ticks) / ticks;
  s.resident_bytes = static_cast<double>(stat.rss_pages) * static_cast<double>(page_bytes);
  s.virtual_bytes = static_cast<double>(stat.vsize_bytes);
  if (boot_time_seconds) {
    s.start_time_seconds = static_cast<double>(*boot_time_seconds) + static_cast<double>(stat.starttime_ticks) / ticks;
  }
  return s;
}

void render_process_sample(const ProcessSample& s, std::string& out) {
  append_family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                s.cpu_seconds);
  if (s.max_fds) append_family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.", *s.max_fds);
  if (s.open_fds) append_family(out, "process_open_fds", "gauge", "Number of open file descriptors.", *s.open_fds);
  append_family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", s.resident_bytes);
  if (s.start_time_seconds) {
    append_family(out, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.", *s.start_time_seconds);
  }
  append_family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", s.virtual_bytes);
}

Result<ProcessSample> read_self_sample() {
  const auto stat_text = read_file("/proc/self/stat");
  if (!stat_text) return unavailable("cannot read /proc/self/stat");
  QUIVER_ASSIGN_OR_RETURN(ProcStat stat, parse_proc_stat(*stat_text));
  std::optional<int64_t> boot;
  if (const auto system = read_file("/proc/stat")) {
    if (auto parsed = parse_boot_time(*system); parsed.is_ok()) boot = *parsed;
  }
  ProcessSample s = to_sample(stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), boot);
  std::error_code ec;
  double fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++fds;
  // The iterator's own descriptor is among those counted; it is closed again now.
  if (!ec) s.open_fds = fds > 0 ? fds - 1 : 0;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return s;
}

void register_process_metrics(MetricsRegistry& registry) {
  registry.set_collector("process", [](std::string& out) {
    if (auto sample = read_self_sample(); sample.is_ok()) render_process_sample(*sample, out);
  });
}

}  // namespace quiver::metrics
