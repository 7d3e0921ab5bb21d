#include "quality/prediction_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "metrics/metrics_registry.h"

namespace quiver::quality {
namespace {

using namespace std::chrono_literals;

Prediction classes(std::vector<int32_t> c) {
  Prediction p;
  p.kind = TaskKind::kClassification;
  p.num_classes = 3;
  p.classes = std::move(c);
  return p;
}

class PredictionLogTest : public ::testing::Test {
 protected:
  PredictionLog make(size_t max_entries, std::chrono::seconds max_age = 3600s, size_t remembered = 0) {
    PredictionLogOptions o;
    o.max_entries = max_entries;
    o.max_age = max_age;
    o.remembered_evictions = remembered;
    return PredictionLog(clock_, o, &metrics_);
  }
  LookupResult lookup(PredictionLog& log, const std::string& id, LoggedPrediction* out = nullptr) {
    return log.lookup("m", id, out);
  }
  FakeClock clock_;
  metrics::MetricsRegistry metrics_;
};

TEST_F(PredictionLogTest, RecordsAndFindsByModelAndId) {
  PredictionLog log(clock_, {}, nullptr);
  log.record("m", "a", 2, classes({1, 0}));
  LoggedPrediction got;
  ASSERT_EQ(log.lookup("m", "a", &got), LookupResult::kFound);
  EXPECT_EQ(got.version, 2);
  EXPECT_EQ(got.prediction.classes, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(got.at, clock_.now());
  EXPECT_EQ(log.lookup("other", "a", nullptr), LookupResult::kUnknown);  // ids are per model
  EXPECT_EQ(log.lookup("m", "b", nullptr), LookupResult::kUnknown);
}

TEST_F(PredictionLogTest, CountLimitEvictsTheOldestAndTheyReadExpired) {
  PredictionLog log = make(3);
  for (int i = 0; i < 5; ++i) log.record("m", "id" + std::to_string(i), 1, classes({i % 3}));
  EXPECT_EQ(log.size(), 3u);
  EXPECT_EQ(log.evictions(), 2u);
  EXPECT_EQ(lookup(log, "id0"), LookupResult::kExpired);
  EXPECT_EQ(lookup(log, "id1"), LookupResult::kExpired);
  for (int i = 2; i < 5; ++i) EXPECT_EQ(lookup(log, "id" + std::to_string(i)), LookupResult::kFound);
  EXPECT_EQ(lookup(log, "never"), LookupResult::kUnknown);
  const std::string text = metrics_.render();
  EXPECT_NE(text.find("quiver_prediction_log_evictions_total 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("quiver_prediction_log_entries 3\n"), std::string::npos) << text;
}

TEST_F(PredictionLogTest, AgeLimitEvictsWithoutSleeping) {
  PredictionLog log = make(100, 3600s);
  log.record("m", "old", 1, classes({0}));
  clock_.advance(30min);
  log.record("m", "young", 1, classes({1}));
  clock_.advance(30min - 1ns);
  EXPECT_EQ(lookup(log, "old"), LookupResult::kFound);  // 1ns short of an hour
  clock_.advance(1ns);
  EXPECT_EQ(lookup(log, "old"), LookupResult::kExpired);
  EXPECT_EQ(lookup(log, "young"), LookupResult::kFound);
  EXPECT_EQ(log.size(), 1u);
  EXPECT_EQ(log.evictions(), 1u);
  clock_.advance(31min);
  EXPECT_EQ(lookup(log, "young"), LookupResult::kExpired);
  EXPECT_EQ(log.size(), 0u);
}

TEST_F(PredictionLogTest, EvictedIdsAreRememberedWithinABound) {
  PredictionLog log = make(1, 3600s, /*remembered=*/2);
  for (int i = 0; i < 5; ++i) log.record("m", "id" + std::to_string(i), 1, classes({0}));
  // id0..id3 were evicted; only the last two evictions are remembered.
  EXPECT_EQ(lookup(log, "id0"), LookupResult::kUnknown);
  EXPECT_EQ(lookup(log, "id1"), LookupResult::kUnknown);
  EXPECT_EQ(lookup(log, "id2"), LookupResult::kExpired);
  EXPECT_EQ(lookup(log, "id3"), LookupResult::kExpired);
  EXPECT_EQ(lookup(log, "id4"), LookupResult::kFound);
}

TEST_F(PredictionLogTest, RecordingAnIdAgainReplacesItAndKeepsTheLogBounded) {
  PredictionLog log = make(10);
  for (int i = 0; i < 1000; ++i) log.record("m", "same", i + 1, classes({i % 3}));
  EXPECT_EQ(log.size(), 1u);
  EXPECT_EQ(log.evictions(), 0u);
  LoggedPrediction got;
  ASSERT_EQ(lookup(log, "same", &got), LookupResult::kFound);
  EXPECT_EQ(got.version, 1000);
  // Stale recordings never evict the live entry.
  for (int i = 0; i < 9; ++i) log.record("m", "other" + std::to_string(i), 1, classes({0}));
  EXPECT_EQ(log.size(), 10u);
  EXPECT_EQ(lookup(log, "same"), LookupResult::kFound);
  log.record("m", "one-more", 1, classes({0}));
  EXPECT_EQ(lookup(log, "same"), LookupResult::kExpired);  // now it is the oldest
}

TEST_F(PredictionLogTest, TruthAndRewardAreEachClaimedOnce) {
  PredictionLog log = make(10);
  log.record("m", "a", 1, classes({0}));
  LoggedPrediction got;
  ASSERT_EQ(lookup(log, "a", &got), LookupResult::kFound);
  auto first = log.claim("m", "a", got.seq, true, false);
  EXPECT_TRUE(first.truth);
  EXPECT_FALSE(first.reward);
  auto again = log.claim("m", "a", got.seq, true, true);
  EXPECT_FALSE(again.truth);
  EXPECT_TRUE(again.reward);
  auto third = log.claim("m", "a", got.seq, true, true);
  EXPECT_FALSE(third.truth || third.reward);
  // A new recording of the id takes feedback afresh.
  log.record("m", "a", 2, classes({1}));
  LoggedPrediction newer;
  ASSERT_EQ(lookup(log, "a", &newer), LookupResult::kFound);
  EXPECT_TRUE(log.claim("m", "a", newer.seq, true, false).truth);
}

}  // namespace
}  // namespace quiver::quality
