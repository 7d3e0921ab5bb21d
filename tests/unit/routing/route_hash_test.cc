#include "routing/route_hash.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quiver::routing {
namespace {

// Golden values: replicas on different builds and machines must agree on these, so a
// change to the hash (which would silently re-shuffle every sticky user) fails here.
TEST(StableHash, MatchesGoldenValues) {
  EXPECT_EQ(stable_hash(""), 0x5b21f68ffa77f14cULL);
  EXPECT_EQ(stable_hash("alice"), 0xa51a5ace81cc1f36ULL);
  EXPECT_EQ(stable_hash("bob"), 0x0629ea5478447001ULL);
  EXPECT_EQ(stable_hash("user-42"), 0x2044f70cbaba5db4ULL);
  EXPECT_EQ(stable_hash("bob", 7), 0xf8f95c9fa230fe38ULL);
  EXPECT_EQ(stable_hash("user-43", 7), 0x4f18185303f8b664ULL);
}

TEST(StableHash, SeedChangesTheHash) { EXPECT_NE(stable_hash("alice", 0), stable_hash("alice", 1)); }

TEST(RendezvousPick, MatchesGoldenPicks) {
  const std::vector<WeightedChoice> three = {{1, 50}, {2, 30}, {3, 20}};
  const std::vector<WeightedChoice> equal4 = {{10, 1}, {20, 1}, {30, 1}, {40, 1}};
  const std::vector<WeightedChoice> canary = {{1, 90}, {2, 10}};
  EXPECT_EQ(rendezvous_pick("alice", three), 0u);
  EXPECT_EQ(rendezvous_pick("bob", three), 1u);
  EXPECT_EQ(rendezvous_pick("user-3", three), 2u);
  EXPECT_EQ(rendezvous_pick("user-7", three), 2u);
  EXPECT_EQ(rendezvous_pick("user-8", three), 1u);
  EXPECT_EQ(rendezvous_pick("alice", equal4), 3u);
  EXPECT_EQ(rendezvous_pick("bob", equal4), 2u);
  EXPECT_EQ(rendezvous_pick("user-42", equal4), 1u);
  EXPECT_EQ(rendezvous_pick("user-0", equal4), 0u);
  EXPECT_EQ(rendezvous_pick("user-42", canary), 1u);
  EXPECT_EQ(rendezvous_pick("user-43", canary), 0u);
}

TEST(RendezvousPick, SameInputSamePickEveryTime) {
  const std::vector<WeightedChoice> choices = {{1, 5}, {2, 3}, {7, 2}};
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    const size_t first = rendezvous_pick(key, choices);
    for (int rep = 0; rep < 3; ++rep) EXPECT_EQ(rendezvous_pick(key, choices), first) << key;
  }
}

TEST(RendezvousPick, DependsOnChoiceIdsNotTheirOrder) {
  const std::vector<WeightedChoice> forward = {{1, 50}, {2, 30}, {3, 20}};
  const std::vector<WeightedChoice> backward = {{3, 20}, {2, 30}, {1, 50}};
  for (int i = 0; i < 500; ++i) {
    const std::string key = "user-" + std::to_string(i);
    EXPECT_EQ(forward[rendezvous_pick(key, forward)].id, backward[rendezvous_pick(key, backward)].id) << key;
  }
}

TEST(RendezvousPick, ZeroWeightNeverWins) {
  const std::vector<WeightedChoice> choices = {{1, 0}, {2, 1}, {3, 0}};
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rendezvous_pick("k" + std::to_string(i), choices), 1u);
}

TEST(Uniform01, StaysInHalfOpenUnitInterval) {
  double lo = 1, hi = 0, sum = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    const double u = uniform01();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    sum += u;
  }
  EXPECT_LT(lo, 0.01);
  EXPECT_GT(hi, 0.99);
  EXPECT_NEAR(sum / n, 0.5, 0.01);
}

}  // namespace
}  // namespace quiver::routing
