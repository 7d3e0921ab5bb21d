#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <string>

#include "metrics/build_info.h"
#include "metrics/metrics_registry.h"
#include "metrics/process_metrics.h"

namespace quiver::metrics {
namespace {

// A real line from a kernel, with a command name that holds ") (" to show fields are
// counted from the last parenthesis.
constexpr std::string_view kStat =
    "4242 (qu) (iver x) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 130 0 0 20 0 9 0 98765 "
    "1234567890 4321 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";

TEST(ProcessMetricsTest, ParsesStatFieldsAfterTheLastParenthesis) {
  auto s = parse_proc_stat(kStat);
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_EQ(s->utime_ticks, 250u);
  EXPECT_EQ(s->stime_ticks, 130u);
  EXPECT_EQ(s->starttime_ticks, 98765u);
  EXPECT_EQ(s->vsize_bytes, 1234567890u);
  EXPECT_EQ(s->rss_pages, 4321);
}

TEST(ProcessMetricsTest, RefusesTruncatedOrGarbledStat) {
  EXPECT_FALSE(parse_proc_stat("4242 (quiver) S 1 2 3").is_ok());
  EXPECT_FALSE(parse_proc_stat("no parenthesis at all").is_ok());
  std::string bad(kStat);
  bad.replace(bad.find(" 250 "), 5, " x50 ");
  EXPECT_FALSE(parse_proc_stat(bad).is_ok());
}

TEST(ProcessMetricsTest, FindsBootTime) {
  auto b = parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n");
  ASSERT_TRUE(b.is_ok());
  EXPECT_EQ(*b, 1700000000);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n").is_ok());
}

TEST(ProcessMetricsTest, ConvertsTicksAndPagesToSecondsAndBytes) {
  ProcStat st{.utime_ticks = 250, .stime_ticks = 130, .starttime_ticks = 98765, .vsize_bytes = 777, .rss_pages = 10};
  const ProcessSample s = to_sample(st, 100, 4096, 1700000000);
  EXPECT_DOUBLE_EQ(s.cpu_seconds, 3.8);
  EXPECT_DOUBLE_EQ(s.resident_bytes, 40960);
  EXPECT_DOUBLE_EQ(s.virtual_bytes, 777);
  ASSERT_TRUE(s.start_time_seconds.has_value());
  EXPECT_DOUBLE_EQ(*s.start_time_seconds, 1700000000 + 987.65);
  EXPECT_FALSE(to_sample(st, 100, 4096, std::nullopt).start_time_seconds.has_value());
}

TEST(ProcessMetricsTest, RendersTheStandardFamilies) {
  ProcessSample s;
  s.cpu_seconds = 3.8;
  s.resident_bytes = 40960;
  s.virtual_bytes = 777;
  s.open_fds = 12;
  s.max_fds = 1024;
  s.start_time_seconds = 1700000987.5;
  std::string out;
  render_process_sample(s, out);
  EXPECT_NE(out.find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.8\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 40960\n"),
            std::string::npos);
  EXPECT_NE(out.find("process_virtual_memory_bytes 777\n"), std::string::npos);
  EXPECT_NE(out.find("process_open_fds 12\n"), std::string::npos);
  EXPECT_NE(out.find("process_max_fds 1024\n"), std::string::npos);
  EXPECT_NE(out.find("process_start_time_seconds 1700000987.5\n"), std::string::npos);
}

TEST(ProcessMetricsTest, ReadsThisProcess) {
  auto s = read_self_sample();
  ASSERT_TRUE(s.is_ok()) << s.status().message();
  EXPECT_GT(s->resident_bytes, 1 << 20);  // a test binary holds more than a megabyte
  EXPECT_GE(s->virtual_bytes, s->resident_bytes);
  ASSERT_TRUE(s->open_fds.has_value());
  EXPECT_GE(*s->open_fds, 3);  // stdin, stdout, stderr
  // An extra descriptor shows up in the next sample.
  const int fd = dup(1);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(*read_self_sample()->open_fds, *s->open_fds + 1);
  close(fd);
  ASSERT_TRUE(s->start_time_seconds.has_value());
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(*s->start_time_seconds, now + 1);
  EXPECT_GT(*s->start_time_seconds, now - 3600);  // this test started within the hour
}

TEST(ProcessMetricsTest, RegistryRendersCollectorsOnceAfterItsFamilies) {
  MetricsRegistry r;
  r.counter("quiver_x_total", "X.").inc();
  register_process_metrics(r);
  register_process_metrics(r);  // idempotent
  const std::string out = r.render();
  EXPECT_LT(out.find("quiver_x_total 1"), out.find("process_cpu_seconds_total"));
  const size_t first = out.find("# TYPE process_open_fds");
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_EQ(out.find("# TYPE process_open_fds", first + 1), std::string::npos) << out;
}

TEST(BuildInfoTest, ExportsOneSeriesWithVersionCommitAndCompiler) {
  const BuildInfo info = build_info();
  EXPECT_FALSE(info.version.empty());
  EXPECT_FALSE(info.commit.empty());
  EXPECT_TRUE(info.compiler.starts_with("gcc ") || info.compiler.starts_with("clang ")) << info.compiler;
  MetricsRegistry r;
  register_build_info(r);
  register_build_info(r);
  const std::string out = r.render();
  const std::string series = "quiver_build_info{commit=\"" + info.commit + "\",compiler=\"" + info.compiler +
                             "\",version=\"" + info.version + "\"} 1\n";
  EXPECT_NE(out.find(series), std::string::npos) << out;
  EXPECT_EQ(out.find("quiver_build_info{", out.find(series) + 1), std::string::npos);
}

}  // namespace
}  // namespace quiver::metrics
