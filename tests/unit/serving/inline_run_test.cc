// Inline runs: a request that finds a small, unbatched, in-process version idle runs
// on the submitting thread (ServableConfig::inline_below); anything else is handed to
// a worker, and one instance never runs two calls at once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::serving {
namespace {

using quiver::testing::FakeBackendControl;
using quiver::testing::fake_input;
using quiver::testing::fake_loader;

ServableConfig inline_config(std::chrono::microseconds below) {
  ServableConfig c;
  c.model = "m";
  c.version = 1;
  c.framework = "onnx";
  c.instances = 1;
  c.inline_below = below;
  return c;
}

// Where one request's backend call ran, and whether its answer came before submit()
// returned.
struct Observed {
  std::thread::id ran_on;
  bool answered_before_return = false;
  Result<std::vector<Tensor>> result = internal_error("never answered");
};

class InlineRunTest : public ::testing::Test {
 protected:
  std::shared_ptr<Servable> load(ServableConfig config) {
    control_->on_infer = [this] {
      std::lock_guard lock(mu_);
      last_infer_thread_ = std::this_thread::get_id();
    };
    auto s = Servable::load(config, fake_loader(control_), nullptr);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(s).value() : nullptr;
  }

  // Submits one request from this thread and waits for its answer.
  Observed submit(Servable& s) {
    Observed o;
    std::promise<Result<std::vector<Tensor>>> promise;
    auto future = promise.get_future();
    std::atomic<bool> returned{false};
    std::atomic<bool> early{false};
    s.submit({fake_input({1, 2})}, [&](Result<std::vector<Tensor>> r) {
      early = !returned.load();
      promise.set_value(std::move(r));
    });
    returned = true;
    o.result = future.get();
    o.answered_before_return = early.load();
    std::lock_guard lock(mu_);
    o.ran_on = last_infer_thread_;
    return o;
  }

  std::shared_ptr<FakeBackendControl> control_ = std::make_shared<FakeBackendControl>();
  std::mutex mu_;
  std::thread::id last_infer_thread_;
};

TEST_F(InlineRunTest, AnIdleFastVersionRunsOnTheSubmittingThreadOnceMeasured) {
  auto s = load(inline_config(std::chrono::seconds(10)));
  ASSERT_NE(s, nullptr);
  // Nothing measured yet: the first request goes to the worker.
  Observed first = submit(*s);
  ASSERT_TRUE(first.result.is_ok());
  EXPECT_NE(first.ran_on, std::this_thread::get_id());
  for (int i = 0; i < 3; ++i) {
    Observed o = submit(*s);
    ASSERT_TRUE(o.result.is_ok()) << o.result.status().to_string();
    EXPECT_EQ(o.ran_on, std::this_thread::get_id());
    EXPECT_TRUE(o.answered_before_return);
    EXPECT_FLOAT_EQ(o.result->front().values<float>()[1], 2.0f);
  }
  // Counted like any other request.
  EXPECT_EQ(s->stats().requests(), 4u);
  EXPECT_EQ(s->stats().errors(), 0u);
  EXPECT_EQ(s->stats().batches(), 4u);
  EXPECT_EQ(s->in_flight(), 0);
}

TEST_F(InlineRunTest, OffBatchedOrSlowVersionsAlwaysUseTheirWorkers) {
  auto off = load(inline_config(std::chrono::microseconds(0)));
  ServableConfig batched_config = inline_config(std::chrono::seconds(10));
  batched_config.batching.max_batch_size = 8;
  auto batched = load(batched_config);
  auto slow = load(inline_config(std::chrono::microseconds(1)));
  ASSERT_TRUE(off && batched && slow);
  for (Servable* s : {off.get(), batched.get()}) {
    for (int i = 0; i < 3; ++i) {
      Observed o = submit(*s);
      ASSERT_TRUE(o.result.is_ok());
      EXPECT_NE(o.ran_on, std::this_thread::get_id());
    }
  }
  // Its forward takes far longer than the 1 us bound.
  control_->on_infer = [this] {
    std::this_thread::sleep_for(std::chrono::microseconds(300));
    std::lock_guard lock(mu_);
    last_infer_thread_ = std::this_thread::get_id();
  };
  for (int i = 0; i < 3; ++i) {
    Observed o = submit(*slow);
    ASSERT_TRUE(o.result.is_ok());
    EXPECT_NE(o.ran_on, std::this_thread::get_id());
  }
}

TEST_F(InlineRunTest, ARequestWhileAnotherIsInFlightQueuesAndNeverSharesTheInstance) {
  auto s = load(inline_config(std::chrono::seconds(10)));
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(submit(*s).result.is_ok());  // measured

  // A runs inline on its own thread and is held inside the backend.
  control_->gate.close();
  std::promise<Result<std::vector<Tensor>>> a_done;
  auto a_future = a_done.get_future();
  std::thread a_thread([&] {
    s->submit({fake_input({1, 1})}, [&](Result<std::vector<Tensor>> r) { a_done.set_value(std::move(r)); });
  });
  ASSERT_TRUE(control_->gate.wait_for_waiters(1));

  // B finds A in flight: it is queued (submit returns at once), and the worker waits
  // for the instance A holds instead of running it beside A.
  std::promise<Result<std::vector<Tensor>>> b_done;
  auto b_future = b_done.get_future();
  s->submit({fake_input({2, 2})}, [&](Result<std::vector<Tensor>> r) { b_done.set_value(std::move(r)); });
  EXPECT_EQ(b_future.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  EXPECT_EQ(s->in_flight(), 2);
  EXPECT_EQ(control_->gate.waiting(), 1);

  control_->gate.open();
  ASSERT_TRUE(a_future.get().is_ok());
  auto b = b_future.get();
  ASSERT_TRUE(b.is_ok());
  EXPECT_FLOAT_EQ(b->front().values<float>()[0], 2.0f);
  a_thread.join();
  EXPECT_EQ(control_->peak_running.load(), 1);
}

TEST_F(InlineRunTest, ACallbackMaySubmitAgainAndAStoppedVersionAnswersUnavailable) {
  auto s = load(inline_config(std::chrono::seconds(10)));
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(submit(*s).result.is_ok());  // measured

  // The answer's callback submits the next request: the instance was released before
  // the callback ran, so the second one runs inline too instead of deadlocking.
  std::promise<Result<std::vector<Tensor>>> second;
  auto second_future = second.get_future();
  s->submit({fake_input({3, 3})}, [&](Result<std::vector<Tensor>> r) {
    ASSERT_TRUE(r.is_ok());
    s->submit({fake_input({4, 4})}, [&](Result<std::vector<Tensor>> r2) { second.set_value(std::move(r2)); });
  });
  ASSERT_EQ(second_future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(second_future.get().is_ok());

  s->stop();
  Observed after = submit(*s);
  ASSERT_FALSE(after.result.is_ok());
  EXPECT_EQ(after.result.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(control_->infer_calls.load(), 3);
}

}  // namespace
}  // namespace quiver::serving
