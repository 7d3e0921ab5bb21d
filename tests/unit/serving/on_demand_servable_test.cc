// A deferred (on-demand) servable: cold until work arrives, one load for any number
// of first requests, eviction refused while work is in flight, a failed load fails
// the requests that waited for it, and the pool resized at runtime.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <vector>

#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::serving {
namespace {

using quiver::testing::FakeBackendControl;
using quiver::testing::fake_input;

ServableConfig config_for(int instances = 1) {
  ServableConfig c;
  c.model = "m";
  c.version = 7;
  c.framework = "onnx";
  c.instances = instances;
  return c;
}

// Records demands instead of loading, so the test decides when the load happens.
struct Demands {
  std::atomic<int> count{0};
  std::weak_ptr<Servable> last;
  DemandHook hook() {
    return [this](std::weak_ptr<Servable> s) {
      last = s;
      count.fetch_add(1);
    };
  }
};

std::future<Result<std::vector<Tensor>>> submit(Servable& s, float x) {
  auto promise = std::make_shared<std::promise<Result<std::vector<Tensor>>>>();
  auto future = promise->get_future();
  s.submit({fake_input({x, x})}, [promise](Result<std::vector<Tensor>> r) { promise->set_value(std::move(r)); });
  return future;
}

TEST(OnDemandServable, StaysColdUntilTheFirstRequestAndLoadsOnceForConcurrentOnes) {
  auto control = std::make_shared<FakeBackendControl>();
  control->factor = 2.0f;
  Demands demands;
  auto s = Servable::deferred(config_for(), quiver::testing::fake_loader(control), nullptr, demands.hook()).value();
  EXPECT_EQ(s->residency(), Residency::kCold);
  EXPECT_EQ(control->loads.load(), 0);
  EXPECT_EQ(s->instances(), 0);

  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  for (int i = 0; i < 8; ++i) answers.push_back(submit(*s, static_cast<float>(i)));
  EXPECT_EQ(demands.count.load(), 1) << "eight first requests must share one load";
  EXPECT_EQ(s->residency(), Residency::kLoading);
  EXPECT_EQ(s->in_flight(), 8);

  ASSERT_TRUE(s->make_resident().is_ok());
  EXPECT_EQ(control->loads.load(), 1);
  EXPECT_EQ(s->residency(), Residency::kResident);
  for (int i = 0; i < 8; ++i) {
    auto r = answers[static_cast<size_t>(i)].get();
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_FLOAT_EQ(r->front().values<float>()[0], 2.0f * static_cast<float>(i));
  }
  EXPECT_TRUE(submit(*s, 1).get().is_ok());
  EXPECT_EQ(demands.count.load(), 1) << "a resident servable never asks again";
  s->stop();
}

TEST(OnDemandServable, AFailedLoadFailsTheWaitingRequestsWithTheCauseAndAllowsARetry) {
  auto control = std::make_shared<FakeBackendControl>();
  control->fail_load = true;
  Demands demands;
  auto s = Servable::deferred(config_for(), quiver::testing::fake_loader(control), nullptr, demands.hook()).value();
  auto a = submit(*s, 1);
  auto b = submit(*s, 2);
  const Status st = s->make_resident();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  for (auto* f : {&a, &b}) {
    auto r = f->get();
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(r.status().message().find("fake artifact is corrupt"), std::string::npos) << r.status().message();
  }
  EXPECT_EQ(s->residency(), Residency::kCold);
  EXPECT_EQ(s->in_flight(), 0);

  control->fail_load = false;
  auto c = submit(*s, 3);
  EXPECT_EQ(demands.count.load(), 2) << "the next request after a failure tries again";
  ASSERT_TRUE(s->make_resident().is_ok());
  EXPECT_TRUE(c.get().is_ok());
  s->stop();
}

TEST(OnDemandServable, EvictionIsRefusedWhileWorkIsInFlightAndUnloadsWhenIdle) {
  auto control = std::make_shared<FakeBackendControl>();
  Demands demands;
  auto s = Servable::deferred(config_for(2), quiver::testing::fake_loader(control), nullptr, demands.hook()).value();
  ASSERT_TRUE(s->make_resident().is_ok());
  EXPECT_EQ(control->alive.load(), 2);

  control->gate.close();
  auto held = submit(*s, 1);
  ASSERT_TRUE(control->gate.wait_for_waiters(1));
  EXPECT_FALSE(s->evict()) << "a request is running";
  EXPECT_EQ(s->residency(), Residency::kResident);
  control->gate.open();
  EXPECT_TRUE(held.get().is_ok());

  EXPECT_TRUE(s->evict());
  EXPECT_EQ(s->residency(), Residency::kCold);
  EXPECT_EQ(control->alive.load(), 0) << "eviction frees the instances";
  EXPECT_EQ(s->instances(), 0);

  // The next request loads it again and is answered.
  auto again = submit(*s, 4);
  EXPECT_EQ(demands.count.load(), 1);
  ASSERT_TRUE(s->make_resident().is_ok());
  EXPECT_TRUE(again.get().is_ok());
  s->stop();
}

TEST(OnDemandServable, StopAnswersRequestsThatWaitedForALoadThatNeverCame) {
  auto control = std::make_shared<FakeBackendControl>();
  Demands demands;
  auto s = Servable::deferred(config_for(), quiver::testing::fake_loader(control), nullptr, demands.hook()).value();
  auto a = submit(*s, 1);
  s->stop();
  auto r = a.get();
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(s->make_resident().code(), StatusCode::kUnavailable);
}

TEST(OnDemandServable, SetInstancesGrowsAndShrinksThePoolWithoutLosingWork) {
  auto control = std::make_shared<FakeBackendControl>();
  auto s = quiver::testing::fake_servable("m", 1, control, 1);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->set_instances(3).is_ok());
  EXPECT_EQ(s->instances(), 3);
  EXPECT_EQ(control->alive.load(), 3);

  // Three requests run at once on three instances.
  control->gate.close();
  std::vector<std::future<Result<std::vector<Tensor>>>> held;
  for (int i = 0; i < 3; ++i) held.push_back(submit(*s, 1));
  EXPECT_TRUE(control->gate.wait_for_waiters(3));

  // Shrinking waits for the retired instances' work, and queued work still runs.
  std::thread shrink([&] { EXPECT_TRUE(s->set_instances(1).is_ok()); });
  auto queued = submit(*s, 5);
  control->gate.open();
  shrink.join();
  for (auto& f : held) EXPECT_TRUE(f.get().is_ok());
  EXPECT_TRUE(queued.get().is_ok());
  EXPECT_EQ(s->instances(), 1);
  EXPECT_EQ(control->alive.load(), 1);
  EXPECT_EQ(s->set_instances(0).code(), StatusCode::kInvalidArgument);
  s->stop();
}

TEST(OnDemandServable, RequestsQueuedBeforeTheSignatureWasKnownAreCheckedBeforeTheyRun) {
  auto control = std::make_shared<FakeBackendControl>();
  Demands demands;
  auto s = Servable::deferred(config_for(), quiver::testing::fake_loader(control), nullptr, demands.hook()).value();
  auto good = submit(*s, 1);
  auto promise = std::make_shared<std::promise<Result<std::vector<Tensor>>>>();
  auto bad = promise->get_future();
  s->submit({fake_input({1, 2}, "wrong")}, [promise](Result<std::vector<Tensor>> r) { promise->set_value(std::move(r)); });
  ASSERT_TRUE(s->make_resident().is_ok());
  EXPECT_TRUE(good.get().is_ok());
  auto r = bad.get();
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(control->infer_calls.load(), 1) << "the bad request never reached the model";
  s->stop();
}

}  // namespace
}  // namespace quiver::serving
