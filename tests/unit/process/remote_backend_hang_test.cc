// A worker process that hangs (alive, but never answers): worker_timeout_ms fails the
// request with DeadlineExceeded, kills the worker and restarts it, and every restart
// is reported with its reason. The hanging model is HangOnTriggerBackend, which this
// test binary's worker loader provides.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/process/remote_backend.h"
#include "unit/backends/example_models.h"
#include "unit/process/hang_backend.h"

namespace quiver::backends::process {
namespace {

using quiver::testing::kHangTrigger;
using quiver::testing::make_batch;
using Clock = std::chrono::steady_clock;

// Restart reasons as the backend reports them, from its monitor thread.
struct RestartLog {
  std::mutex mu;
  std::vector<std::string> reasons;
  std::vector<std::string> snapshot() {
    std::lock_guard lock(mu);
    return reasons;
  }
};

LoadRequest hang_request(int64_t timeout_ms, RestartLog* log) {
  LoadRequest r{"test-hang", "/unused", {}, 1};
  r.isolated = true;
  r.label = "model 'hang' version 1";
  r.worker_timeout_ms = timeout_ms;
  if (log) {
    r.on_worker_restart = [log](const std::string& reason) {
      std::lock_guard lock(log->mu);
      log->reasons.push_back(reason);
    };
  }
  return r;
}

Tensor trigger() { return make_batch("input", 2, 4, kHangTrigger + 1); }

bool process_is_gone(pid_t pid) {
  int status = 0;
  return ::waitpid(pid, &status, WNOHANG) < 0 && errno == ECHILD && ::kill(pid, 0) < 0 && errno == ESRCH;
}

bool eventually(const std::function<bool()>& condition, Clock::duration limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

TEST(RemoteBackendHangTest, AHungWorkerFailsItsRequestWithDeadlineExceededIsKilledAndRestarted) {
  RestartLog log;
  auto remote = RemoteBackend::load(hang_request(300, &log));
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();
  const Tensor x = make_batch("input", 3, 4);
  ASSERT_TRUE((*remote)->infer({x}).is_ok());
  const pid_t hung = (*remote)->worker_pid();
  ASSERT_GT(hung, 0);

  // Run on another thread so that, without the timeout, the test fails instead of
  // hanging; the kill below then frees that thread.
  const auto sent = Clock::now();
  auto pending = std::async(std::launch::async, [&] { return (*remote)->infer({trigger()}); });
  if (pending.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    ::kill(hung, SIGKILL);
    pending.wait();
    FAIL() << "the hung worker's request was not answered within 5 s";
  }
  const auto took = Clock::now() - sent;
  auto result = pending.get();
  ASSERT_FALSE(result.is_ok());
  EXPECT_EQ(result.status().code(), StatusCode::kDeadlineExceeded) << result.status().to_string();
  const std::string& m = result.status().message();
  EXPECT_NE(m.find("worker process of model 'hang' version 1 did not answer within 300 ms (worker_timeout_ms)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("killed and is restarting"), std::string::npos) << m;
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(2000));

  // Killed (and reaped), then replaced by a fresh worker that serves.
  EXPECT_TRUE(eventually([&] { return process_is_gone(hung); }, std::chrono::seconds(2)));
  EXPECT_TRUE(eventually([&] { return (*remote)->infer({x}).is_ok(); }, std::chrono::seconds(3)));
  EXPECT_NE((*remote)->worker_pid(), hung);
  EXPECT_EQ((*remote)->restarts(), 1);
  EXPECT_EQ(log.snapshot(), std::vector<std::string>{"timeout"});
}

TEST(RemoteBackendHangTest, RequestsWhileTheHungWorkerRestartsFailFastNotAfterAnotherTimeout) {
  auto remote = RemoteBackend::load(hang_request(300, nullptr));
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();
  ASSERT_FALSE((*remote)->infer({trigger()}).is_ok());
  const auto sent = Clock::now();
  auto next = (*remote)->infer({make_batch("input", 1, 4)});
  const auto took = Clock::now() - sent;
  if (!next.is_ok()) {  // the replacement may already be up: then it simply answers
    EXPECT_EQ(next.status().code(), StatusCode::kUnavailable) << next.status().to_string();
    EXPECT_NE(next.status().message().find("restarting"), std::string::npos) << next.status().message();
  }
  EXPECT_LT(took, std::chrono::milliseconds(250));
}

TEST(RemoteBackendHangTest, EveryRestartIsReportedWithItsReason) {
  RestartLog log;
  auto remote = RemoteBackend::load(hang_request(300, &log));
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();
  const Tensor x = make_batch("input", 1, 4);
  ASSERT_EQ(::kill((*remote)->worker_pid(), SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return (*remote)->infer({x}).is_ok(); }, std::chrono::seconds(3)));
  ASSERT_EQ((*remote)->infer({trigger()}).status().code(), StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(eventually([&] { return (*remote)->infer({x}).is_ok(); }, std::chrono::seconds(3)));
  EXPECT_EQ(log.snapshot(), (std::vector<std::string>{"crash", "timeout"}));
  EXPECT_EQ((*remote)->restarts(), 2);
}

TEST(RemoteBackendHangTest, WithoutATimeoutASlowAnswerIsWaitedFor) {
  // worker_timeout_ms 0: no limit (the backend waits as long as the model takes).
  auto remote = RemoteBackend::load(hang_request(0, nullptr));
  ASSERT_TRUE(remote.is_ok()) << remote.status().to_string();
  auto pending = std::async(std::launch::async, [&] { return (*remote)->infer({trigger()}); });
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
  ::kill((*remote)->worker_pid(), SIGKILL);  // frees the request: a crash, Unavailable
  EXPECT_EQ(pending.get().status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace quiver::backends::process
