// The eviction policy, decision by decision: least recently used first, never a busy
// version, only as much as the incoming version needs, per model and per server.
#include "lifecycle/memory_budget.h"

#include <gtest/gtest.h>

namespace quiver::lifecycle {
namespace {

constexpr int64_t kMi = 1 << 20;

std::vector<int64_t> versions_of(const std::vector<ResidentVersion>& r, const std::vector<size_t>& picked) {
  std::vector<int64_t> out;
  for (size_t i : picked) out.push_back(r[i].version);
  return out;
}

TEST(MemoryBudget, NothingIsEvictedWhileTheIncomingVersionFits) {
  std::vector<ResidentVersion> r = {{"m", 1, 100 * kMi, 10, false}, {"m", 2, 100 * kMi, 20, false}};
  EXPECT_TRUE(pick_victims(r, "m", 100 * kMi, {300 * kMi, 0}).empty());
  EXPECT_TRUE(pick_victims(r, "m", 100 * kMi, {0, 0}).empty()) << "no budget: no eviction";
}

TEST(MemoryBudget, EvictsLeastRecentlyUsedFirstAndOnlyWhatIsNeeded) {
  std::vector<ResidentVersion> r = {
      {"m", 1, 100 * kMi, 30, false}, {"m", 2, 100 * kMi, 10, false}, {"m", 3, 100 * kMi, 20, false}};
  // 300 resident + 100 incoming under 300: one must go, the oldest (version 2).
  EXPECT_EQ(versions_of(r, pick_victims(r, "m", 100 * kMi, {300 * kMi, 0})), (std::vector<int64_t>{2}));
  // + 200 incoming: two go, in LRU order.
  EXPECT_EQ(versions_of(r, pick_victims(r, "m", 200 * kMi, {300 * kMi, 0})), (std::vector<int64_t>{2, 3}));
}

TEST(MemoryBudget, NeverPicksAVersionWithWorkInFlight) {
  std::vector<ResidentVersion> r = {{"m", 1, 100 * kMi, 10, true}, {"m", 2, 100 * kMi, 20, false}};
  EXPECT_EQ(versions_of(r, pick_victims(r, "m", 100 * kMi, {200 * kMi, 0})), (std::vector<int64_t>{2}));
  // Everything busy: nothing to evict; the caller loads over budget and retries later.
  r[1].busy = true;
  EXPECT_TRUE(pick_victims(r, "m", 100 * kMi, {200 * kMi, 0}).empty());
}

TEST(MemoryBudget, AModelBudgetEvictsOnlyThatModelsVersions) {
  std::vector<ResidentVersion> r = {
      {"other", 1, 100 * kMi, 1, false}, {"m", 1, 100 * kMi, 10, false}, {"m", 2, 100 * kMi, 20, false}};
  // m holds 200 of its 200: m's oldest goes although other's version is older.
  EXPECT_EQ(versions_of(r, pick_victims(r, "m", 100 * kMi, {0, 200 * kMi})), (std::vector<int64_t>{1}));
  EXPECT_EQ(r[pick_victims(r, "m", 100 * kMi, {0, 200 * kMi}).front()].model, "m");
  // Over the server's budget too: the globally oldest goes first, then m's oldest for
  // m's own budget (server 400 -> 300 fits; m 300 -> 200 fits).
  auto both = pick_victims(r, "m", 100 * kMi, {300 * kMi, 200 * kMi});
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(r[both[0]].model, "other");
  EXPECT_EQ(r[both[1]].model, "m");
  EXPECT_EQ(r[both[1]].version, 1);
}

TEST(MemoryBudget, EnforcingWithNothingIncomingTrimsToTheBudget) {
  std::vector<ResidentVersion> r = {
      {"a", 1, 100 * kMi, 3, false}, {"b", 1, 100 * kMi, 1, false}, {"c", 1, 100 * kMi, 2, false}};
  auto v = pick_victims(r, "", 0, {150 * kMi, 0});
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(r[v[0]].model, "b");
  EXPECT_EQ(r[v[1]].model, "c");
}

TEST(MemoryBudget, ResidentSetSizeIsMeasured) { EXPECT_GT(resident_set_bytes(), 0); }

}  // namespace
}  // namespace quiver::lifecycle
