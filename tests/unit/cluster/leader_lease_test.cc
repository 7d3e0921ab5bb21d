// The leader lease against a real PostgreSQL: takeover only after expiry by the
// database clock, a new epoch per term, and fenced writes from an old term.
#include "cluster/leader_lease.h"

#include <thread>

#include "unit/cluster/cluster_test_db.h"

namespace quiver::cluster {
namespace {

using namespace std::chrono_literals;

class LeaderLeaseTest : public ClusterDbTest {};

registry::Actor fenced(const registry::Fence& f) { return {"rollout-controller", "", f}; }

TEST_F(LeaderLeaseTest, OneLeaderAtATimeAndATakeoverOnlyAfterExpiry) {
  auto ca = connect(), cb = connect();
  LeaderLease a("a", 400ms, *clock_), b("b", 400ms, *clock_);
  EXPECT_TRUE(a.step(ca.get()));
  EXPECT_EQ(a.epoch(), 1);
  EXPECT_FALSE(b.step(cb.get()));  // a's lease is live
  EXPECT_TRUE(a.step(ca.get()));   // renewal keeps the epoch
  EXPECT_EQ(a.epoch(), 1);
  auto view = LeaderLease::read(*cb);
  ASSERT_TRUE(view.is_ok() && view->has_value());
  EXPECT_EQ((*view)->holder, "a");
  EXPECT_TRUE((*view)->live);

  std::this_thread::sleep_for(500ms);  // the database clock decides expiry
  EXPECT_TRUE(b.step(cb.get()));
  EXPECT_EQ(b.epoch(), 2);
  clock_->advance(1ms);
  EXPECT_FALSE(a.step(ca.get()));  // b holds a live lease now: a steps down
  EXPECT_FALSE(a.is_leader());
}

TEST_F(LeaderLeaseTest, TheLocalTermEndsBeforeTheDatabaseLeaseWithoutAnyAnswer) {
  auto c = connect();
  LeaderLease a("a", 1000ms, *clock_);
  ASSERT_TRUE(a.step(c.get()));
  clock_->advance(700ms);
  EXPECT_TRUE(a.is_leader());
  EXPECT_TRUE(a.fence().has_value());
  clock_->advance(150ms);  // past ttl - margin (1000 - 200 ms), with no renewal
  EXPECT_FALSE(a.is_leader());
  EXPECT_FALSE(a.fence().has_value());
  EXPECT_FALSE(a.step(nullptr));  // the database is gone: still not leading
}

TEST_F(LeaderLeaseTest, AWriteFencedByAnOldTermChangesNothing) {
  auto ca = connect(), cb = connect();
  LeaderLease a("a", 300ms, *clock_), b("b", 300ms, *clock_);
  ASSERT_TRUE(a.step(ca.get()));
  const registry::Fence old_term = *a.fence();
  EXPECT_TRUE(registry_->record_event("iris", "test.leader_write", "{}", fenced(old_term)).is_ok());

  std::this_thread::sleep_for(400ms);  // a is "paused" past its lease
  ASSERT_TRUE(b.step(cb.get()));
  auto before = registry_->audit("", 100);
  ASSERT_TRUE(before.is_ok());
  const Status late = registry_->record_event("iris", "test.leader_write", "{}", fenced(old_term));
  EXPECT_EQ(late.code(), StatusCode::kFailedPrecondition) << late.to_string();
  EXPECT_NE(late.message().find("fenced"), std::string::npos) << late.message();
  auto after = registry_->audit("", 100);
  ASSERT_TRUE(after.is_ok());
  EXPECT_EQ(after->size(), before->size());  // nothing was written
  EXPECT_TRUE(registry_->record_event("iris", "test.leader_write", "{}", fenced(*b.fence())).is_ok());
}

TEST_F(LeaderLeaseTest, AnExpiredHolderThatRenewsStartsANewEpoch) {
  auto c = connect();
  LeaderLease a("a", 300ms, *clock_);
  ASSERT_TRUE(a.step(c.get()));
  const registry::Fence first = *a.fence();
  std::this_thread::sleep_for(400ms);
  clock_->advance(400ms);
  ASSERT_TRUE(a.step(c.get()));
  EXPECT_EQ(a.epoch(), first.epoch + 1);  // writes from the lapsed term stay fenced
  EXPECT_EQ(registry_->record_event("iris", "x", "{}", fenced(first)).code(), StatusCode::kFailedPrecondition);
}

TEST_F(LeaderLeaseTest, ReleaseLetsAStandbyLeadAtOnce) {
  auto ca = connect(), cb = connect();
  LeaderLease a("a", 5000ms, *clock_), b("b", 5000ms, *clock_);
  ASSERT_TRUE(a.step(ca.get()));
  a.release(ca.get());
  EXPECT_FALSE(a.is_leader());
  EXPECT_TRUE(b.step(cb.get()));
  EXPECT_EQ(b.epoch(), 2);
}

}  // namespace
}  // namespace quiver::cluster
