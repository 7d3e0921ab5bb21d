#include "cli/bench_report.h"

#include <fmt/format.h>

#include "cli/text_table.h"

namespace quiver::cli {
namespace {

double ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }
double ms(double ns) { return ns / 1e6; }

// Three significant decimals of a millisecond is a microsecond: enough for loopback.
std::string ms_cell(int64_t ns) { return fmt::format("{:.3f}", ms(ns)); }

std::string errors_text(const LevelResult& level) {
  std::string out;
  for (const auto& [kind, count] : level.error_breakdown) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} x{}", kind, count);
  }
  return out;
}

}  // namespace

nlohmann::ordered_json level_to_json(const LevelResult& level) {
  nlohmann::ordered_json out;
  out["concurrency"] = level.concurrency;
  if (level.target_rate > 0) out["rate"] = level.target_rate;
  out["requests"] = level.ok + level.errors;
  out["ok"] = level.ok;
  out["errors"] = level.errors;
  out["error_breakdown"] = nlohmann::ordered_json::object();
  for (const auto& [kind, count] : level.error_breakdown) out["error_breakdown"][kind] = count;
  out["elapsed_s"] = level.elapsed_s;
  out["throughput_infer_per_s"] = level.throughput();
  out["throughput_rows_per_s"] = level.rows_per_second();
  out["latency_ms"] = {{"p50", ms(level.latency.p50_ns)}, {"p90", ms(level.latency.p90_ns)},
                       {"p99", ms(level.latency.p99_ns)}, {"mean", ms(level.latency.mean_ns)},
                       {"min", ms(level.latency.min_ns)}, {"max", ms(level.latency.max_ns)}};
  return out;
}

nlohmann::ordered_json bench_to_json(const BenchRunInfo& info, const std::vector<LevelResult>& levels) {
  nlohmann::ordered_json out;
  out["server"] = info.server;
  out["model"] = info.model;
  out["version"] = info.version.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(info.version);
  out["protocol"] = info.protocol;
  out["binary"] = info.binary;
  out["batch"] = info.batch;
  out["duration_s"] = info.duration_s;
  out["warmup_s"] = info.warmup_s;
  out["max_requests"] = info.max_requests;
  out["levels"] = nlohmann::ordered_json::array();
  for (const auto& level : levels) out["levels"].push_back(level_to_json(level));
  return out;
}

std::string render_bench_text(const BenchRunInfo& info, const std::vector<LevelResult>& levels) {
  std::string bound;
  if (info.duration_s > 0) bound = fmt::format("{:g} s", info.duration_s);
  if (info.max_requests > 0) bound += fmt::format("{}{} requests", bound.empty() ? "" : " or ", info.max_requests);
  std::string out = fmt::format(
      "{} {} at {} over {} ({}), batch {}, {} per level\n", info.model,
      info.version.empty() ? std::string("(routed)") : fmt::format("version {}", info.version), info.server,
      info.protocol, info.protocol == "grpc" ? "raw tensors" : info.binary ? "binary tensors" : "JSON", info.batch, bound);
  const bool fixed_rate = !levels.empty() && levels.front().target_rate > 0;
  TableRow header{fixed_rate ? "rate" : "concurrency", "infer/s"};
  if (info.batch > 1) header.push_back("rows/s");
  for (const char* name : {"p50 ms", "p90 ms", "p99 ms", "ok", "errors"}) header.push_back(name);
  std::vector<TableRow> rows;
  for (const auto& level : levels) {
    TableRow row{fixed_rate ? fmt::format("{:g}/s x{}", level.target_rate, level.concurrency)
                            : std::to_string(level.concurrency),
                 fmt::format("{:.1f}", level.throughput())};
    if (info.batch > 1) row.push_back(fmt::format("{:.0f}", level.rows_per_second()));
    row.push_back(ms_cell(level.latency.p50_ns));
    row.push_back(ms_cell(level.latency.p90_ns));
    row.push_back(ms_cell(level.latency.p99_ns));
    row.push_back(std::to_string(level.ok));
    row.push_back(std::to_string(level.errors));
    rows.push_back(std::move(row));
  }
  out += render_table(header, rows);
  for (const auto& level : levels) {
    if (level.errors == 0) continue;
    out += fmt::format("errors at {}: {}\n",
                       fixed_rate ? fmt::format("{:g}/s", level.target_rate)
                                  : fmt::format("concurrency {}", level.concurrency),
                       errors_text(level));
  }
  return out;
}

}  // namespace quiver::cli
