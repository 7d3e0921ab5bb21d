// Loading and warmup run below serving's CPU priority; serving keeps the caller's.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

#include "serving/background_priority.h"
#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::serving {
namespace {

using quiver::testing::FakeBackendControl;
using quiver::testing::fake_input;
using quiver::testing::fake_loader;
using quiver::testing::InferFailure;

// Nice values seen by the loader and by each backend call, in order.
struct Seen {
  std::mutex mu;
  std::vector<int> loads;
  std::vector<int> infers;
  int infers_when_loaded = -1;  // backend calls already made when on_loaded ran
};

ServableConfig warmed_config(Seen& seen, std::shared_ptr<FakeBackendControl> control) {
  ServableConfig c;
  c.model = "m";
  c.version = 1;
  c.framework = "onnx";
  c.instances = 2;
  c.warmup_runs = 3;
  c.warmup_inputs = [](const ModelSignature&) { return std::optional(std::vector<Tensor>{fake_input({1, 2})}); };
  c.on_loaded = [&seen, control] {
    std::lock_guard lock(seen.mu);
    seen.infers_when_loaded = control->infer_calls.load();
  };
  return c;
}

BackendLoader recording_loader(Seen& seen, std::shared_ptr<FakeBackendControl> control) {
  auto inner = fake_loader(control);
  control->on_infer = [&seen] {
    std::lock_guard lock(seen.mu);
    seen.infers.push_back(current_thread_nice());
  };
  return [&seen, inner](const backends::LoadRequest& r) {
    {
      std::lock_guard lock(seen.mu);
      seen.loads.push_back(current_thread_nice());
    }
    return inner(r);
  };
}

Result<std::vector<Tensor>> run(Servable& s) {
  std::promise<Result<std::vector<Tensor>>> promise;
  auto future = promise.get_future();
  s.submit({fake_input({1, 2})}, [&promise](Result<std::vector<Tensor>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

TEST(BackgroundLoadTest, LoadAndWarmupRunLowerThanServingWhichKeepsTheCallersPriority) {
  const int ours = current_thread_nice();
  const int background = std::min(19, ours + kBackgroundNiceSteps);
  auto control = std::make_shared<FakeBackendControl>();
  Seen seen;
  auto s = Servable::load(warmed_config(seen, control), recording_loader(seen, control), nullptr);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  {
    std::lock_guard lock(seen.mu);
    ASSERT_EQ(seen.loads.size(), 2u);
    for (int nice : seen.loads) EXPECT_EQ(nice, background);
    // Three warmup runs per instance, all at the loader's priority, after on_loaded.
    ASSERT_EQ(seen.infers.size(), 6u);
    for (int nice : seen.infers) EXPECT_EQ(nice, background);
    EXPECT_EQ(seen.infers_when_loaded, 0);
  }
  EXPECT_EQ(current_thread_nice(), ours) << "the caller's own priority is untouched";

  // Serving runs on workers started by the caller: at its priority.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(run(**s).is_ok());
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.infers.size(), 10u);
  for (size_t i = 6; i < seen.infers.size(); ++i) EXPECT_EQ(seen.infers[i], ours);
  // Warmup is not user traffic.
  EXPECT_EQ((*s)->stats().requests(), 4u);
}

TEST(BackgroundLoadTest, InstancesThatStartThreadsOfTheirOwnLoadAtTheCallersPriority) {
  const int ours = current_thread_nice();
  auto control = std::make_shared<FakeBackendControl>();
  Seen seen;
  ServableConfig config = warmed_config(seen, control);
  config.intra_op_threads = 4;  // an intra-op pool started by the load would stay low
  auto s = Servable::load(config, recording_loader(seen, control), nullptr);
  ASSERT_TRUE(s.is_ok());
  std::lock_guard lock(seen.mu);
  for (int nice : seen.loads) EXPECT_EQ(nice, ours);
}

TEST(BackgroundLoadTest, AFailingWarmupFailsTheLoadAndFreesItsInstances) {
  auto control = std::make_shared<FakeBackendControl>();
  control->infer_failure = InferFailure::kThrow;
  Seen seen;
  auto s = Servable::load(warmed_config(seen, control), recording_loader(seen, control), nullptr);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.status().message().find("warmup failed"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("fake backend exploded"), std::string::npos) << s.status().message();
  EXPECT_EQ(control->alive.load(), 0);
}

TEST(BackgroundLoadTest, ExceptionsFromTheHelperReachTheCaller) {
  EXPECT_THROW(run_at_background_priority([] { throw std::runtime_error("boom"); }), std::runtime_error);
  int seen = -100;
  run_at_background_priority([&] { seen = current_thread_nice(); });
  EXPECT_EQ(seen, std::min(19, current_thread_nice() + kBackgroundNiceSteps));
}

}  // namespace
}  // namespace quiver::serving
