// The upload progress bar `quiver push` draws on stderr, and the byte-size texts the
// client commands print.
//
// On a terminal the bar is redrawn in place with '\r' (at most ~10 times a second);
// when stderr is a file or a pipe only one summary line is written at the end, so
// logs stay readable.
//
// Thread-safety: a ProgressBar is used by one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

namespace quiver::cli {

// "512 B", "12.3 KB", "4.5 MB", "1.2 GB" (decimal units, as transfer rates use).
std::string format_bytes(uint64_t bytes);

// One frame of the bar: "[#########-----------]  45%  4.5 MB / 10.0 MB  12.3 MB/s".
// `elapsed_seconds` <= 0 prints "-- MB/s"; `total` 0 counts as complete.
std::string format_progress_line(uint64_t done, uint64_t total, double elapsed_seconds,
                                 int bar_width = 30);

// "uploaded 10.0 MB in 0.8s (12.5 MB/s)".
std::string format_transfer_summary(uint64_t bytes, double elapsed_seconds);

class ProgressBar {
 public:
  using Clock = std::chrono::steady_clock;

  // `interactive`: redraw in place (stderr is a terminal); else only finish() writes.
  ProgressBar(std::ostream& out, bool interactive, uint64_t total, Clock::time_point start);

  // Records progress; redraws when interactive and enough time has passed since the
  // last frame, or when `done` reaches the total.
  void update(uint64_t done, Clock::time_point now);

  // Ends the bar: a final frame plus newline when interactive, else the summary line.
  void finish(Clock::time_point now);

  // Ends a failed transfer: only closes the line of a drawn bar, so the error that
  // follows starts on its own line.
  void abandon();

 private:
  std::ostream& out_;
  bool interactive_;
  uint64_t total_;
  uint64_t done_ = 0;
  Clock::time_point start_;
  Clock::time_point last_draw_{};
  bool drawn_ = false;
  bool finished_ = false;
};

}  // namespace quiver::cli
