// PeriodicLoop: runs a control loop's step() on a thread of its own, again after the
// delay the step returns (or sooner when woken), until stopped. The controllers keep
// their logic in step() with an injected clock; only this class knows about threads.
//
// Thread-safety: start(), wake() and stop() may be called from any thread; stop()
// joins, so it must not be called from inside the step.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace quiver {

class PeriodicLoop {
 public:
  // `step` runs once per round and returns how long to wait before the next one.
  explicit PeriodicLoop(std::function<std::chrono::milliseconds()> step) : step_(std::move(step)) {}
  ~PeriodicLoop() { stop(); }
  PeriodicLoop(const PeriodicLoop&) = delete;
  PeriodicLoop& operator=(const PeriodicLoop&) = delete;

  void start() {
    std::lock_guard lock(mu_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
  }
  void wake() {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      const auto wait = step_();
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [this] { return stopping_ || woken_; });
      if (stopping_) return;
      woken_ = false;
    }
  }

  std::function<std::chrono::milliseconds()> step_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool woken_ = false;
  std::thread thread_;
};

}  // namespace quiver
