// Deadlines and the bounded queue: work whose deadline passes while it is queued is
// answered DeadlineExceeded and never reaches the backend; a full queue refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "metrics/metrics_registry.h"
#include "serving/servable.h"
#include "unit/serving/row_backend.h"

namespace quiver::serving {
namespace {

using quiver::testing::Answers;
using quiver::testing::row_input;
using quiver::testing::RowBackendLog;
using Clock = std::chrono::steady_clock;

bool saw_value(const std::vector<float>& seen, float v) { return std::find(seen.begin(), seen.end(), v) != seen.end(); }

class DeadlineTest : public ::testing::Test {
 protected:
  std::shared_ptr<Servable> load(std::chrono::milliseconds timeout, int max_batch = 1, size_t max_queue = 64) {
    ServableConfig c;
    c.model = "m";
    c.version = 3;
    c.framework = "onnx";
    c.timeout = timeout;
    c.max_queue = max_queue;
    c.batching.max_batch_size = max_batch;
    c.batching.max_queue_delay_us = 1000;
    auto s = Servable::load(c, testing::row_loader(log_), &metrics_);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    // Kept here too, so that a failed assertion cannot stop it while the gate is
    // closed: TearDown opens the gate first.
    servable_ = s.is_ok() ? std::move(s).value() : nullptr;
    return servable_;
  }
  // Occupies the only worker at the closed gate so later submits stay queued. The
  // holder is a warmup-style request (no deadline), so it runs however late the
  // worker picks it up.
  void hold_worker(Servable& s) {
    log_->gate.close();
    holder_ = std::thread([this, &s] { held_ = s.infer_sync({row_input(1, 2, 1000)}); });
    ASSERT_TRUE(log_->gate.wait_for_waiters(1));
  }
  void TearDown() override {
    log_->gate.open();
    if (holder_.joinable()) holder_.join();
    EXPECT_TRUE(held_.is_ok()) << held_.status().to_string();
    servable_.reset();
  }
  // Lets every deadline of `d` from now pass. The only sleeps in these tests: a
  // deadline is a point in real time.
  static void outlive(std::chrono::milliseconds d) { std::this_thread::sleep_for(d + std::chrono::milliseconds(5)); }

  uint64_t counter(const std::string& name) {
    return metrics_.counter(name, "", {{"model", "m"}, {"version", "3"}}).value();
  }

  std::shared_ptr<RowBackendLog> log_ = std::make_shared<RowBackendLog>();
  metrics::MetricsRegistry metrics_;
  std::shared_ptr<Servable> servable_;
  std::thread holder_;
  Result<std::vector<Tensor>> held_ = std::vector<Tensor>{};
};

TEST_F(DeadlineTest, RequestDeadlinePassedInTheQueueIsAnsweredWithoutRunning) {
  auto s = load(std::chrono::milliseconds(0));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s);
  s->submit({row_input(1, 2, 7)}, answers.callback(1), Clock::now() + std::chrono::milliseconds(1));
  s->submit({row_input(1, 2, 50)}, answers.callback(2));  // no deadline: waits as long as it takes
  outlive(std::chrono::milliseconds(1));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(2));

  const Status st = answers.result(1).status();
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(st.message().find("request waited "), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(" ms in the queue of model 'm' version 3, over its deadline of 1 ms"),
            std::string::npos)
      << st.message();
  EXPECT_TRUE(answers.result(2).is_ok());
  const auto seen = log_->values();
  EXPECT_FALSE(saw_value(seen, 7) || saw_value(seen, 8)) << "the expired request reached the backend";
  EXPECT_TRUE(saw_value(seen, 50));
  EXPECT_EQ(log_->rows().size(), 2u);
  EXPECT_EQ(s->stats().expired(), 1u);
  EXPECT_EQ(s->stats().errors(), 0u) << "an expired request is overload, not a broken version";
  EXPECT_EQ(counter("quiver_expired_requests_total"), 1u);
  EXPECT_EQ(s->in_flight(), 0);
}

TEST_F(DeadlineTest, ConfiguredTimeoutAppliesToEveryRequest) {
  auto s = load(std::chrono::milliseconds(2));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s);
  for (size_t i = 1; i <= 3; ++i) s->submit({row_input(1, 2, static_cast<float>(i * 10))}, answers.callback(i));
  outlive(std::chrono::milliseconds(2));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(3));
  for (size_t i = 1; i <= 3; ++i) {
    EXPECT_EQ(answers.result(i).status().code(), StatusCode::kDeadlineExceeded) << i;
    EXPECT_NE(answers.result(i).status().message().find("over its deadline of 2 ms"), std::string::npos);
  }
  EXPECT_EQ(log_->rows().size(), 1u) << "only the running request reached the backend";
  EXPECT_EQ(s->stats().expired(), 3u);
}

TEST_F(DeadlineTest, TheEarlierOfRequestAndConfiguredDeadlinesCounts) {
  auto s = load(std::chrono::hours(1));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s);
  s->submit({row_input(1, 2, 10)}, answers.callback(1), Clock::now() + std::chrono::milliseconds(1));
  s->submit({row_input(1, 2, 20)}, answers.callback(2), Clock::now() + std::chrono::hours(2));
  outlive(std::chrono::milliseconds(1));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(2));
  EXPECT_EQ(answers.result(1).status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(answers.result(2).is_ok());
}

TEST_F(DeadlineTest, ExpiredRequestsAreLeftOutOfABatch) {
  auto s = load(std::chrono::milliseconds(0), /*max_batch=*/8);
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s);
  s->submit({row_input(1, 2, 10)}, answers.callback(1));
  s->submit({row_input(1, 2, 20)}, answers.callback(2), Clock::now() + std::chrono::milliseconds(1));
  s->submit({row_input(1, 2, 30)}, answers.callback(3));
  outlive(std::chrono::milliseconds(1));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(3));
  EXPECT_TRUE(answers.result(1).is_ok());
  EXPECT_EQ(answers.result(2).status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(answers.result(3).is_ok());
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(saw_value(log_->values(), 20));
}

TEST_F(DeadlineTest, WarmupIgnoresTheConfiguredTimeout) {
  auto s = load(std::chrono::milliseconds(1));
  ASSERT_NE(s, nullptr);
  log_->gate.close();
  std::thread opener([&] {
    ASSERT_TRUE(log_->gate.wait_for_waiters(1));
    log_->gate.open();
  });
  Answers answers;
  s->submit({row_input(1, 2, 1)}, answers.callback(0));  // holds the worker
  auto r = s->infer_sync({row_input(1, 2, 5)});         // queued behind it past 1 ms
  opener.join();
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
}

TEST_F(DeadlineTest, FullQueueAnswersResourceExhaustedAndCountsIt) {
  auto s = load(std::chrono::milliseconds(0), /*max_batch=*/1, /*max_queue=*/2);
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s);
  s->submit({row_input(1, 2, 10)}, answers.callback(1));
  s->submit({row_input(1, 2, 20)}, answers.callback(2));
  s->submit({row_input(1, 2, 30)}, answers.callback(3));
  EXPECT_EQ(answers.calls(3), 1) << "refused inline";
  const Status st = answers.result(3).status();
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("model 'm' version 3 is overloaded: 2 requests queued"), std::string::npos)
      << st.message();
  EXPECT_EQ(s->stats().rejected(), 1u);
  EXPECT_EQ(counter("quiver_rejected_requests_total"), 1u);
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(3));
  EXPECT_TRUE(answers.result(1).is_ok());
  EXPECT_TRUE(answers.result(2).is_ok());
  EXPECT_FALSE(saw_value(log_->values(), 30)) << "the refused request reached the backend";
  // Serving continues once the queue has room again.
  s->submit({row_input(1, 2, 40)}, answers.callback(4));
  ASSERT_TRUE(answers.wait_for(4));
  EXPECT_TRUE(answers.result(4).is_ok());
}

}  // namespace
}  // namespace quiver::serving
