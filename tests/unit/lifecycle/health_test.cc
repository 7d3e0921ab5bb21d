// HealthState: the ejection / re-admission rules, stepped with explicit times.
#include "lifecycle/health.h"

#include <gtest/gtest.h>

namespace quiver::lifecycle {
namespace {

using std::chrono::milliseconds;
using TimePoint = HealthState::TimePoint;

HealthConfig config() {
  HealthConfig c;
  c.probe_interval_ms = 100;
  c.failure_threshold = 3;
  c.max_error_rate = 0.5;
  c.min_requests = 10;
  c.window_ms = 1000;
  return c;
}

TEST(HealthStateTest, ConsecutiveProbeFailuresEjectAndOneSuccessReadmits) {
  HealthState h;
  const auto cfg = config();
  TimePoint t{};
  EXPECT_EQ(h.on_probe(false, "boom", cfg, t), HealthEvent::kNone);
  EXPECT_EQ(h.on_probe(true, "", cfg, t), HealthEvent::kNone);  // a success resets the count
  EXPECT_EQ(h.on_probe(false, "boom", cfg, t), HealthEvent::kNone);
  EXPECT_EQ(h.on_probe(false, "boom", cfg, t), HealthEvent::kNone);
  EXPECT_FALSE(h.ejected());
  EXPECT_EQ(h.on_probe(false, "boom", cfg, t), HealthEvent::kEjected);
  EXPECT_TRUE(h.ejected());
  EXPECT_NE(h.reason().find("3 consecutive health probes failed: boom"), std::string::npos) << h.reason();
  EXPECT_EQ(h.on_probe(false, "boom", cfg, t), HealthEvent::kNone) << "already ejected";
  EXPECT_EQ(h.on_probe(true, "", cfg, t + milliseconds(100)), HealthEvent::kReadmitted);
  EXPECT_FALSE(h.ejected());
  EXPECT_TRUE(h.reason().empty());
}

TEST(HealthStateTest, FirstProbeComesOneIntervalAfterReady) {
  HealthState h;
  const auto cfg = config();
  TimePoint t{};
  EXPECT_FALSE(h.probe_due(t, cfg));
  EXPECT_FALSE(h.probe_due(t + milliseconds(99), cfg));
  EXPECT_TRUE(h.probe_due(t + milliseconds(100), cfg));
  h.on_probe(true, "", cfg, t + milliseconds(100));
  EXPECT_FALSE(h.probe_due(t + milliseconds(150), cfg));
  EXPECT_TRUE(h.probe_due(t + milliseconds(200), cfg));
}

TEST(HealthStateTest, ErrorRateSpikeEjectsAndReadmissionWaitsAWindow) {
  HealthState h;
  const auto cfg = config();
  TimePoint t{};
  EXPECT_EQ(h.on_traffic(100, 0, cfg, t), HealthEvent::kNone);  // starts the window
  EXPECT_EQ(h.on_traffic(105, 5, cfg, t + milliseconds(10)), HealthEvent::kNone) << "below min_requests";
  EXPECT_EQ(h.on_traffic(110, 6, cfg, t + milliseconds(20)), HealthEvent::kEjected);  // 6 of 10 failed
  EXPECT_NE(h.reason().find("error rate 60%"), std::string::npos) << h.reason();
  // A passing probe right away is not enough after an error-rate ejection...
  EXPECT_EQ(h.on_probe(true, "", cfg, t + milliseconds(500)), HealthEvent::kNone);
  EXPECT_TRUE(h.ejected());
  // ...once a window has passed, it is.
  EXPECT_EQ(h.on_probe(true, "", cfg, t + milliseconds(1100)), HealthEvent::kReadmitted);
}

TEST(HealthStateTest, LowErrorRateNeverEjectsAndWindowsRoll) {
  HealthState h;
  const auto cfg = config();
  TimePoint t{};
  h.on_traffic(0, 0, cfg, t);
  EXPECT_EQ(h.on_traffic(100, 40, cfg, t + milliseconds(500)), HealthEvent::kNone);  // 40% < 50%
  // The window rolls after window_ms: old errors stop counting.
  EXPECT_EQ(h.on_traffic(200, 80, cfg, t + milliseconds(1500)), HealthEvent::kNone);
  EXPECT_EQ(h.on_traffic(220, 81, cfg, t + milliseconds(1600)), HealthEvent::kNone);  // 1 of 20 in this window
  EXPECT_FALSE(h.ejected());
}

}  // namespace
}  // namespace quiver::lifecycle
