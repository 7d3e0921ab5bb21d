#include "cli/progress_bar.h"

#include <sstream>

#include <gtest/gtest.h>

namespace quiver::cli {
namespace {

using namespace std::chrono_literals;

TEST(FormatBytesTest, UsesDecimalUnitsWithOneDecimal) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(999), "999 B");
  EXPECT_EQ(format_bytes(12'345), "12.3 KB");
  EXPECT_EQ(format_bytes(999'960), "1.0 MB");
  EXPECT_EQ(format_bytes(4'500'000), "4.5 MB");
  EXPECT_EQ(format_bytes(1'234'000'000), "1.2 GB");
}

TEST(FormatProgressLineTest, ShowsBarPercentBytesAndRate) {
  EXPECT_EQ(format_progress_line(4'500'000, 10'000'000, 0.5, 20),
            "[#########-----------]  45%  4.5 MB / 10.0 MB  9.0 MB/s");
  EXPECT_EQ(format_progress_line(10'000'000, 10'000'000, 2.0, 10),
            "[##########] 100%  10.0 MB / 10.0 MB  5.0 MB/s");
}

TEST(FormatProgressLineTest, HandlesEmptyFilesAndNoElapsedTime) {
  EXPECT_EQ(format_progress_line(0, 0, 0.0, 4), "[####] 100%  0 B / 0 B  -- MB/s");
}

TEST(ProgressBarTest, RedrawsInPlaceOnATerminalAtMostTenTimesASecond) {
  std::ostringstream out;
  const auto t0 = ProgressBar::Clock::time_point{};
  ProgressBar bar(out, /*interactive=*/true, 1'000'000, t0);
  bar.update(100'000, t0 + 10ms);
  bar.update(200'000, t0 + 50ms);  // too soon after the first frame: skipped
  bar.update(300'000, t0 + 150ms);
  bar.update(1'000'000, t0 + 160ms);  // complete: drawn however soon
  bar.finish(t0 + 1s);
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 4);
  EXPECT_EQ(text.find("200.0 KB /"), std::string::npos);
  EXPECT_NE(text.find("300.0 KB / 1.0 MB"), std::string::npos);
  EXPECT_NE(text.find("1.0 MB / 1.0 MB"), std::string::npos);
  EXPECT_EQ(text.substr(text.rfind('\r')),
            "\r[##############################] 100%  1.0 MB / 1.0 MB  1.0 MB/s  \n");
}

TEST(ProgressBarTest, WritesOneSummaryLineWhenNotATerminal) {
  std::ostringstream out;
  const auto t0 = ProgressBar::Clock::time_point{};
  ProgressBar bar(out, /*interactive=*/false, 2'000'000, t0);
  bar.update(1'000'000, t0 + 200ms);
  bar.update(2'000'000, t0 + 400ms);
  bar.finish(t0 + 500ms);
  EXPECT_EQ(out.str(), "uploaded 2.0 MB in 0.5s (4.0 MB/s)\n");
}

TEST(ProgressBarTest, AbandonOnlyEndsADrawnLine) {
  std::ostringstream quiet;
  ProgressBar unseen(quiet, /*interactive=*/false, 10, {});
  unseen.update(5, {});
  unseen.abandon();
  EXPECT_EQ(quiet.str(), "");

  std::ostringstream tty;
  ProgressBar drawn(tty, /*interactive=*/true, 10, {});
  drawn.update(5, {});
  drawn.abandon();
  drawn.finish({});
  const std::string text = tty.str();
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << "finish after abandon writes nothing";
}

}  // namespace
}  // namespace quiver::cli
