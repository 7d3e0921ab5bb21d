// Faults seen from a servable: request deadlines that no wall-clock jump can reach, and
// worker-process restarts (isolation: process) counted in the version's statistics
// and in quiver_worker_restarts_total{model, version, reason}.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <type_traits>

#include "metrics/metrics_registry.h"
#include "serving/servable.h"
#include "unit/testing/fake_backend.h"

namespace quiver::serving {
namespace {

// Deadlines and queue times are steady_clock time points by type: a wall-clock jump
// (NTP, `date -s`) cannot expire a request early or keep it alive, because no wall
// time can be stored in them.
static_assert(std::is_same_v<SteadyClock, std::chrono::steady_clock> && SteadyClock::is_steady);
static_assert(std::is_same_v<decltype(QueuedRequest::deadline), std::optional<SteadyClock::time_point>>);
static_assert(std::is_same_v<decltype(QueuedRequest::enqueued), SteadyClock::time_point>);

struct Captured {
  std::optional<backends::LoadRequest> request;
};

BackendLoader capturing_loader(std::shared_ptr<testing::FakeBackendControl> control, Captured& captured) {
  auto inner = testing::fake_loader(std::move(control));
  return [inner, &captured](const backends::LoadRequest& r) {
    captured.request = r;
    return inner(r);
  };
}

ServableConfig isolated_config() {
  ServableConfig c;
  c.model = "m";
  c.version = 3;
  c.framework = "onnx";
  c.isolation = Isolation::kProcess;
  c.worker_timeout = std::chrono::milliseconds(1234);
  return c;
}

TEST(ServableFaultsTest, AnIsolatedVersionGivesItsWorkersTheTimeoutAndCountsTheirRestarts) {
  metrics::MetricsRegistry metrics;
  Captured captured;
  auto s = Servable::load(isolated_config(), capturing_loader(std::make_shared<testing::FakeBackendControl>(), captured),
                          &metrics);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  ASSERT_TRUE(captured.request.has_value());
  EXPECT_EQ(captured.request->worker_timeout_ms, 1234);
  ASSERT_TRUE(captured.request->on_worker_restart);

  // What the worker's monitor reports, as it restarts workers.
  captured.request->on_worker_restart("timeout");
  captured.request->on_worker_restart("timeout");
  captured.request->on_worker_restart("crash");
  EXPECT_EQ((*s)->stats().worker_restarts(), 3u);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("quiver_worker_restarts_total{model=\"m\",reason=\"timeout\",version=\"3\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("quiver_worker_restarts_total{model=\"m\",reason=\"crash\",version=\"3\"} 1"), std::string::npos)
      << text;
  (*s)->stop();
}

TEST(ServableFaultsTest, AnInProcessVersionHasNoWorkerTimeoutAndNoRestartSeries) {
  metrics::MetricsRegistry metrics;
  Captured captured;
  ServableConfig c = isolated_config();
  c.isolation = Isolation::kInProcess;
  auto s = Servable::load(c, capturing_loader(std::make_shared<testing::FakeBackendControl>(), captured), &metrics);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  EXPECT_EQ(captured.request->worker_timeout_ms, 0);
  EXPECT_FALSE(captured.request->on_worker_restart);
  EXPECT_EQ(metrics.render().find("quiver_worker_restarts_total"), std::string::npos);
  (*s)->stop();
}

}  // namespace
}  // namespace quiver::serving
