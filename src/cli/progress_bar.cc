#include "cli/progress_bar.h"

#include <algorithm>

#include <fmt/format.h>

namespace quiver::cli {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

double seconds_between(ProgressBar::Clock::time_point from, ProgressBar::Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string format_rate(uint64_t bytes, double elapsed_seconds) {
  if (elapsed_seconds <= 0) return "-- MB/s";
  const double mb_per_s = static_cast<double>(bytes) / 1e6 / elapsed_seconds;
  return fmt::format("{:.1f} MB/s", mb_per_s);
}

}  // namespace

std::string format_bytes(uint64_t bytes) {
  if (bytes < 1000) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes) / 1000.0;
  size_t unit = 0;
  // Rounds first so that 999,950 bytes reads "1.0 MB", not "1000.0 KB".
  while (value >= 999.95 && unit + 1 < std::size(kUnits)) {
    value /= 1000.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string format_progress_line(uint64_t done, uint64_t total, double elapsed_seconds,
                                 int bar_width) {
  const double fraction =
      total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int width = std::max(bar_width, 1);
  const int filled = static_cast<int>(fraction * width);
  const int percent = static_cast<int>(fraction * 100.0);
  return fmt::format("[{}{}] {:3d}%  {} / {}  {}", std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(width - filled), '-'), percent,
                     format_bytes(done), format_bytes(total), format_rate(done, elapsed_seconds));
}

std::string format_transfer_summary(uint64_t bytes, double elapsed_seconds) {
  return fmt::format("uploaded {} in {:.1f}s ({})", format_bytes(bytes),
                     std::max(elapsed_seconds, 0.0), format_rate(bytes, elapsed_seconds));
}

ProgressBar::ProgressBar(std::ostream& out, bool interactive, uint64_t total, Clock::time_point start)
    : out_(out), interactive_(interactive), total_(total), start_(start) {}

void ProgressBar::update(uint64_t done, Clock::time_point now) {
  done_ = done;
  if (!interactive_ || finished_) return;
  const bool complete = done_ >= total_;
  if (drawn_ && !complete && now - last_draw_ < kRedrawInterval) return;
  // Trailing spaces wipe what a longer previous frame left behind.
  out_ << '\r' << format_progress_line(done_, total_, seconds_between(start_, now)) << "  "
       << std::flush;
  drawn_ = true;
  last_draw_ = now;
}

void ProgressBar::finish(Clock::time_point now) {
  if (finished_) return;
  finished_ = true;
  const double elapsed = seconds_between(start_, now);
  if (interactive_) {
    out_ << '\r' << format_progress_line(done_, total_, elapsed) << "  \n" << std::flush;
  } else {
    out_ << format_transfer_summary(done_, elapsed) << '\n' << std::flush;
  }
}

void ProgressBar::abandon() {
  if (finished_) return;
  finished_ = true;
  if (interactive_ && drawn_) out_ << '\n' << std::flush;
}

}  // namespace quiver::cli
