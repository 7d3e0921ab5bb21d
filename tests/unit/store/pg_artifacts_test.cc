// Remote artifact copies in PostgreSQL, against a real server: QUIVER_TEST_POSTGRES_URL
// names an admin URL (scripts/test.sh sets it); each test gets a database of its own.
#include "store/pg_artifacts.h"

#include <gtest/gtest.h>

#include <latch>
#include <thread>

#include "pg/connection.h"
#include "unit/store/artifact_test_files.h"
#include "unit/testing/pg_test_database.h"
#include "unit/store/temp_dir.h"

namespace quiver::store {
namespace {

namespace fs = std::filesystem;
using quiver::testing::count_files;
using quiver::testing::random_bytes;
using quiver::testing::read_file;
using quiver::testing::sha_of;
using quiver::testing::write_file;

constexpr size_t kMiB = size_t{1} << 20;

class PgArtifactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (quiver::testing::PgTestDatabase::admin_url().empty())
      GTEST_SKIP() << "QUIVER_TEST_POSTGRES_URL is not set: set it to an admin PostgreSQL URL "
                      "(e.g. postgresql://postgres@127.0.0.1:55432/postgres) to run the PostgreSQL artifact tests";
    const Status created = db_.create();
    ASSERT_TRUE(created.is_ok()) << created.to_string();
    auto opened = PgArtifacts::open(db_.url());
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    artifacts_ = std::move(opened).value();
    auto blobs = BlobStore::open(store_root());
    ASSERT_TRUE(blobs.is_ok()) << blobs.status().to_string();
    blobs_ = std::move(blobs).value();
    auto sql = pg::Connection::connect(db_.url());
    ASSERT_TRUE(sql.is_ok()) << sql.status().to_string();
    sql_ = std::move(sql).value();
  }

  fs::path store_root() const { return dir_.path() / "store"; }

  // One value from the test's own connection (the artifacts use another).
  std::string sql_value(const std::string& query, const std::string& sha) {
    auto rows = sql_->query(query, sha);
    EXPECT_TRUE(rows.is_ok()) << rows.status().to_string();
    return rows.is_ok() && !rows->empty() ? rows->text_at(0, 0) : "";
  }

  quiver::testing::TempDir dir_;
  quiver::testing::PgTestDatabase db_;
  std::unique_ptr<PgArtifacts> artifacts_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<pg::Connection> sql_;
};

TEST_F(PgArtifactsTest, MultiChunkFileRoundTripsIntoAnotherReplicasBlobStore) {
  const std::string bytes = random_bytes(3 * kMiB + kMiB / 2, 1);
  const std::string sha = sha_of(bytes);
  const fs::path file = write_file(dir_.path() / "model.pt", bytes);

  ASSERT_TRUE(artifacts_->put(sha, file).is_ok());
  auto there = artifacts_->exists(sha);
  ASSERT_TRUE(there.is_ok()) << there.status().to_string();
  EXPECT_TRUE(*there);
  EXPECT_EQ(sql_value("SELECT count(*) FROM artifact_chunks WHERE sha256 = $1", sha), "4");
  EXPECT_EQ(sql_value("SELECT size FROM artifact_blobs WHERE sha256 = $1", sha), std::to_string(bytes.size()));

  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  ASSERT_TRUE(fetched.is_ok()) << fetched.to_string();
  ASSERT_TRUE(blobs_->exists(sha));
  EXPECT_EQ(read_file(*blobs_->path_of(sha)), bytes);
  EXPECT_TRUE(blobs_->verify(sha).is_ok());
}

TEST_F(PgArtifactsTest, EmptyFileRoundTrips) {
  const std::string sha = sha_of("");
  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "empty", "")).is_ok());
  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  ASSERT_TRUE(fetched.is_ok()) << fetched.to_string();
  EXPECT_EQ(blobs_->stat(sha)->size, 0u);
}

TEST_F(PgArtifactsTest, UnknownShaIsAbsentAndNotFound) {
  const std::string sha = sha_of("never pushed");
  auto there = artifacts_->exists(sha);
  ASSERT_TRUE(there.is_ok()) << there.status().to_string();
  EXPECT_FALSE(*there);
  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  EXPECT_EQ(fetched.code(), StatusCode::kNotFound) << fetched.to_string();
  EXPECT_EQ(count_files(store_root()), 0u);
}

TEST_F(PgArtifactsTest, SecondPutOfTheSameShaWritesNothing) {
  const std::string bytes = random_bytes(kMiB + 10, 2);
  const std::string sha = sha_of(bytes);
  const fs::path file = write_file(dir_.path() / "model.onnx", bytes);
  ASSERT_TRUE(artifacts_->put(sha, file).is_ok());
  // xmin names the transaction that wrote a row version: unchanged means not rewritten.
  const std::string blob_xmin = sql_value("SELECT xmin::text FROM artifact_blobs WHERE sha256 = $1", sha);
  const std::string chunk_xmins =
      sql_value("SELECT string_agg(xmin::text, ',' ORDER BY seq) FROM artifact_chunks WHERE sha256 = $1", sha);

  const Status again = artifacts_->put(sha, file);
  ASSERT_TRUE(again.is_ok()) << again.to_string();
  EXPECT_EQ(sql_value("SELECT xmin::text FROM artifact_blobs WHERE sha256 = $1", sha), blob_xmin);
  EXPECT_EQ(sql_value("SELECT string_agg(xmin::text, ',' ORDER BY seq) FROM artifact_chunks WHERE sha256 = $1", sha),
            chunk_xmins);
}

TEST_F(PgArtifactsTest, TwoReplicasPushingTheSameShaAtOnceBothSucceed) {
  const std::string bytes = random_bytes(3 * kMiB, 3);
  const std::string sha = sha_of(bytes);
  const fs::path file = write_file(dir_.path() / "model.pt", bytes);
  // Two instances, two connections: what two replicas do, not two threads on one mutex.
  auto second = PgArtifacts::open(db_.url());
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();

  std::latch start(2);
  Status first_put, second_put;
  std::thread a([&] {
    start.arrive_and_wait();
    first_put = artifacts_->put(sha, file);
  });
  std::thread b([&] {
    start.arrive_and_wait();
    second_put = (*second)->put(sha, file);
  });
  a.join();
  b.join();

  EXPECT_TRUE(first_put.is_ok()) << first_put.to_string();
  EXPECT_TRUE(second_put.is_ok()) << second_put.to_string();
  EXPECT_EQ(sql_value("SELECT count(*) FROM artifact_blobs WHERE sha256 = $1", sha), "1");
  EXPECT_EQ(sql_value("SELECT count(*) FROM artifact_chunks WHERE sha256 = $1", sha), "3");
  const Status fetched = (*second)->fetch_into(sha, *blobs_);
  ASSERT_TRUE(fetched.is_ok()) << fetched.to_string();
  EXPECT_EQ(read_file(*blobs_->path_of(sha)), bytes);
}

TEST_F(PgArtifactsTest, CorruptedChunkIsDataLossAndLeavesNothingInTheBlobStore) {
  const std::string bytes = random_bytes(2 * kMiB + 7, 4);
  const std::string sha = sha_of(bytes);
  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "model.pt", bytes)).is_ok());
  // One flipped bit in the middle chunk, as a bad disk or a careless UPDATE would do.
  auto flipped = sql_->query(
      "UPDATE artifact_chunks SET data = set_byte(data, 100, get_byte(data, 100) # 1) "
      "WHERE sha256 = $1 AND seq = 1",
      sha);
  ASSERT_TRUE(flipped.is_ok()) << flipped.status().to_string();
  ASSERT_EQ(flipped->affected(), 1);

  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  EXPECT_EQ(fetched.code(), StatusCode::kDataLoss) << fetched.to_string();
  EXPECT_FALSE(blobs_->exists(sha));
  EXPECT_EQ(count_files(store_root()), 0u) << "a corrupt copy must leave no blob and no temporary file";
}

TEST_F(PgArtifactsTest, MissingChunkIsDataLoss) {
  const std::string bytes = random_bytes(kMiB + 1, 5);
  const std::string sha = sha_of(bytes);
  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "model.pt", bytes)).is_ok());
  ASSERT_TRUE(sql_->query("DELETE FROM artifact_chunks WHERE sha256 = $1 AND seq = 1", sha).is_ok());

  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  EXPECT_EQ(fetched.code(), StatusCode::kDataLoss) << fetched.to_string();
  EXPECT_EQ(count_files(store_root()), 0u);
}

TEST_F(PgArtifactsTest, PutRefusesAFileThatDoesNotHashToTheSha) {
  const std::string bytes = random_bytes(kMiB + 3, 6);
  const std::string other_sha = sha_of("something else");
  const Status put = artifacts_->put(other_sha, write_file(dir_.path() / "model.pt", bytes));
  EXPECT_EQ(put.code(), StatusCode::kInvalidArgument) << put.to_string();
  EXPECT_FALSE(*artifacts_->exists(other_sha));
  EXPECT_EQ(sql_value("SELECT count(*) FROM artifact_chunks WHERE sha256 = $1", other_sha), "0");
}

TEST_F(PgArtifactsTest, ReconnectsAtTheNextCallAfterTheConnectionBreaks) {
  const std::string bytes = random_bytes(1000, 7);
  const std::string sha = sha_of(bytes);
  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "small", bytes)).is_ok());
  // What a server restart or a failover does to every open connection.
  ASSERT_TRUE(sql_->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                  .is_ok());

  // libpq notices the broken connection only when it uses it: that call may fail...
  auto first = artifacts_->exists(sha);
  if (!first.is_ok()) {
    EXPECT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().to_string();
  }
  // ...and the next one runs on a new connection.
  auto second = artifacts_->exists(sha);
  ASSERT_TRUE(second.is_ok()) << second.status().to_string();
  EXPECT_TRUE(*second);
  EXPECT_TRUE(artifacts_->fetch_into(sha, *blobs_).is_ok());
}

TEST_F(PgArtifactsTest, ReplicasOpeningAFreshDatabaseTogetherAllSucceed) {
  // The tables exist already (SetUp opened one); open several more at once.
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = PgArtifacts::open(db_.url()).status(); });
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.is_ok()) << s.to_string();
}

TEST_F(PgArtifactsTest, DescribeNamesTheServerAndDatabase) {
  EXPECT_EQ(artifacts_->describe().rfind("postgresql (", 0), 0u) << artifacts_->describe();
  EXPECT_NE(artifacts_->describe().find("/" + db_.name() + ")"), std::string::npos) << artifacts_->describe();
}

TEST(PgArtifactsOpenTest, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto opened = PgArtifacts::open("postgresql://postgres@127.0.0.1:1/quiver");
  ASSERT_FALSE(opened.is_ok());
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable) << opened.status().to_string();
}

}  // namespace
}  // namespace quiver::store
