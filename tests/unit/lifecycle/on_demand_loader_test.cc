// The on-demand loader over real deferred servables with fake backends: the first
// request loads (once), the budget holds by evicting the least recently used idle
// version, a version with work in flight is never evicted, and the metrics count it.
#include "lifecycle/on_demand_loader.h"

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <thread>

#include "metrics/metrics_registry.h"
#include "unit/testing/fake_backend.h"

namespace quiver::lifecycle {
namespace {

using quiver::testing::FakeBackendControl;
using quiver::testing::fake_input;

constexpr int64_t kMi = 1 << 20;

class OnDemandLoaderTest : public ::testing::Test {
 protected:
  // Budget for three 100 MiB versions (artifact size is the memory lower bound; the
  // fake backends grow the resident set by far less).
  void make_loader(int64_t budget) { loader_ = std::make_unique<OnDemandLoader>(&metrics_, clock_, budget); }

  std::shared_ptr<serving::Servable> add(const std::string& model, int64_t version, int64_t bytes = 100 * kMi) {
    serving::ServableConfig c;
    c.model = model;
    c.version = version;
    c.framework = "onnx";
    auto control = std::make_shared<FakeBackendControl>();
    controls_[{model, version}] = control;  // NOLINT
    auto s = serving::Servable::deferred(c, quiver::testing::fake_loader(control), &metrics_, loader_->hook()).value();
    loader_->track(s, bytes);
    servables_.push_back(s);
    return s;
  }

  static std::future<Result<std::vector<Tensor>>> submit(serving::Servable& s) {
    auto promise = std::make_shared<std::promise<Result<std::vector<Tensor>>>>();
    auto future = promise->get_future();
    s.submit({fake_input({1, 2})}, [promise](Result<std::vector<Tensor>> r) { promise->set_value(std::move(r)); });
    return future;
  }

  // One request answered through the loader, as the server does it.
  void serve(serving::Servable& s) {
    auto f = submit(s);
    loader_->step();
    auto r = f.get();
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }

  FakeBackendControl* control(const std::string& model, int64_t version) { return controls_[{model, version}].get(); }

  std::vector<int64_t> resident_versions() {
    std::vector<int64_t> out;
    for (const auto& r : loader_->resident()) out.push_back(r.version);
    std::sort(out.begin(), out.end());
    return out;
  }

  double counter(const std::string& text_name, int64_t version) {
    const std::string text = metrics_.render();
    const std::string key = text_name + "{model=\"m\",version=\"" + std::to_string(version) + "\"} ";
    auto at = text.find(key);
    return at == std::string::npos ? 0 : std::stod(text.substr(at + key.size()));
  }

  void TearDown() override {
    for (auto& s : servables_) s->stop();
  }

  FakeClock clock_;
  metrics::MetricsRegistry metrics_;
  std::unique_ptr<OnDemandLoader> loader_;
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<FakeBackendControl>> controls_;
  std::vector<std::shared_ptr<serving::Servable>> servables_;
};

TEST_F(OnDemandLoaderTest, ConcurrentFirstRequestsShareOneLoad) {
  make_loader(0);
  auto s = add("m", 1);
  std::vector<std::future<Result<std::vector<Tensor>>>> answers;
  for (int i = 0; i < 16; ++i) answers.push_back(submit(*s));
  loader_->step();
  for (auto& f : answers) EXPECT_TRUE(f.get().is_ok());
  EXPECT_EQ(control("m", 1)->loads.load(), 1);
  EXPECT_EQ(counter("quiver_model_loads_total", 1), 1);
  EXPECT_NE(metrics_.render().find("quiver_cold_start_seconds_count{model=\"m\",version=\"1\"} 1"), std::string::npos);
}

TEST_F(OnDemandLoaderTest, EvictsTheLeastRecentlyUsedToStayWithinTheBudget) {
  make_loader(300 * kMi);
  auto v1 = add("m", 1), v2 = add("m", 2), v3 = add("m", 3), v4 = add("m", 4);
  serve(*v1);
  serve(*v2);
  serve(*v3);
  serve(*v1);  // v1 is now more recent than v2 and v3
  EXPECT_EQ(resident_versions(), (std::vector<int64_t>{1, 2, 3}));
  serve(*v4);  // no room: v2, the least recently used, goes
  EXPECT_EQ(resident_versions(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(control("m", 2)->alive.load(), 0) << "its instances are freed";
  EXPECT_EQ(counter("quiver_model_evictions_total", 2), 1);
  EXPECT_LE(loader_->resident_bytes(), 300 * kMi);
  serve(*v2);  // back again: v3 is now the oldest
  EXPECT_EQ(resident_versions(), (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(control("m", 2)->loads.load(), 2);
  EXPECT_EQ(counter("quiver_model_loads_total", 2), 2);
}

TEST_F(OnDemandLoaderTest, NeverEvictsAVersionWithWorkInFlight) {
  make_loader(200 * kMi);
  auto v1 = add("m", 1), v2 = add("m", 2), v3 = add("m", 3);
  serve(*v1);
  serve(*v2);
  // v1 is the least recently used but busy: a request is held in its model.
  control("m", 1)->gate.close();
  auto held = submit(*v1);
  ASSERT_TRUE(control("m", 1)->gate.wait_for_waiters(1));
  serve(*v2);  // v2 most recent
  serve(*v3);
  EXPECT_EQ(resident_versions(), (std::vector<int64_t>{1, 3})) << "v2 went instead of the busy v1";
  control("m", 1)->gate.open();
  EXPECT_TRUE(held.get().is_ok());
}

TEST_F(OnDemandLoaderTest, LoadsOverBudgetWhenEverythingIsBusyThenTrimsWhenIdle) {
  make_loader(100 * kMi);
  auto v1 = add("m", 1), v2 = add("m", 2);
  serve(*v1);
  control("m", 1)->gate.close();
  auto held = submit(*v1);
  ASSERT_TRUE(control("m", 1)->gate.wait_for_waiters(1));
  serve(*v2);  // answered although it does not fit: refusing would serve nobody
  EXPECT_EQ(resident_versions(), (std::vector<int64_t>{1, 2}));
  control("m", 1)->gate.open();
  EXPECT_TRUE(held.get().is_ok());
  loader_->step();  // the next pass trims back under budget, oldest first
  EXPECT_EQ(resident_versions(), (std::vector<int64_t>{2}));
}

TEST_F(OnDemandLoaderTest, AModelBudgetLimitsOnlyThatModel) {
  make_loader(0);
  loader_->set_model_budget("m", 100 * kMi);
  auto a1 = add("m", 1), a2 = add("m", 2), other = add("other", 1);
  serve(*other);
  serve(*a1);
  serve(*a2);
  std::vector<std::pair<std::string, int64_t>> live;
  for (const auto& r : loader_->resident()) live.emplace_back(r.model, r.version);
  std::sort(live.begin(), live.end());
  EXPECT_EQ(live, (std::vector<std::pair<std::string, int64_t>>{{"m", 2}, {"other", 1}}));
}

TEST_F(OnDemandLoaderTest, TheLoaderThreadLoadsWithoutAnyoneStepping) {
  make_loader(0);
  auto s = add("m", 1);
  loader_->start();
  auto f = submit(*s);
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(f.get().is_ok());
  loader_->stop();
}

}  // namespace
}  // namespace quiver::lifecycle
