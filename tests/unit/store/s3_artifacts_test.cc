// Remote artifact copies in an S3-compatible store, against a real one: the
// S3ArtifactsTest cases need QUIVER_TEST_S3_ENDPOINT (tests/e2e/test_s3_artifacts.py
// starts s3rver and sets it); the others need no server.
#include "store/s3_artifacts.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "unit/store/artifact_test_files.h"
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

std::string env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

// Writes `body` under `url` through the S3 API, bypassing S3Artifacts and its checks:
// what a careless operator or a compromised bucket does to a stored object.
long raw_put(const S3Config& config, const std::string& url, const std::string& body) {
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
  headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  const std::string sigv4 = "aws:amz:" + config.region + ":s3";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERNAME, config.access_key_id.c_str());
  curl_easy_setopt(curl, CURLOPT_PASSWORD, config.secret_access_key.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return status;
}

class S3ArtifactsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.endpoint = env_or("QUIVER_TEST_S3_ENDPOINT", "");
    if (config_.endpoint.empty())
      GTEST_SKIP() << "QUIVER_TEST_S3_ENDPOINT is not set: tests/e2e/test_s3_artifacts.py starts s3rver and "
                      "runs these tests against it";
    config_.bucket = env_or("QUIVER_TEST_S3_BUCKET", "quiver-test");
    config_.region = env_or("QUIVER_TEST_S3_REGION", "us-east-1");
    config_.access_key_id = env_or("QUIVER_TEST_S3_ACCESS_KEY", "S3RVER");
    config_.secret_access_key = env_or("QUIVER_TEST_S3_SECRET_KEY", "S3RVER");
    // A prefix per test, so tests never see each other's objects.
    config_.prefix = "quiver-tests/" + std::to_string(std::random_device()());
    auto opened = S3Artifacts::open(config_);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    artifacts_ = std::move(opened).value();
    auto blobs = BlobStore::open(store_root());
    ASSERT_TRUE(blobs.is_ok()) << blobs.status().to_string();
    blobs_ = std::move(blobs).value();
  }

  fs::path store_root() const { return dir_.path() / "store"; }

  quiver::testing::TempDir dir_;
  S3Config config_;
  std::unique_ptr<S3Artifacts> artifacts_;
  std::unique_ptr<BlobStore> blobs_;
};

TEST_F(S3ArtifactsTest, MultiMegabyteFileRoundTripsIntoAnotherReplicasBlobStore) {
  const std::string bytes = random_bytes(5 * kMiB + 123, 11);
  const std::string sha = sha_of(bytes);
  const Status put = artifacts_->put(sha, write_file(dir_.path() / "model.pt", bytes));
  ASSERT_TRUE(put.is_ok()) << put.to_string();

  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  ASSERT_TRUE(fetched.is_ok()) << fetched.to_string();
  ASSERT_TRUE(blobs_->exists(sha));
  EXPECT_EQ(read_file(*blobs_->path_of(sha)), bytes);
  EXPECT_TRUE(blobs_->verify(sha).is_ok());
}

TEST_F(S3ArtifactsTest, ExistsIsTrueOnlyAfterAPut) {
  const std::string bytes = random_bytes(4096, 12);
  const std::string sha = sha_of(bytes);
  auto before = artifacts_->exists(sha);
  ASSERT_TRUE(before.is_ok()) << before.status().to_string();
  EXPECT_FALSE(*before);

  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "small", bytes)).is_ok());
  auto after = artifacts_->exists(sha);
  ASSERT_TRUE(after.is_ok()) << after.status().to_string();
  EXPECT_TRUE(*after);
  // A second put of the same artifact is a no-op that succeeds.
  EXPECT_TRUE(artifacts_->put(sha, dir_.path() / "small").is_ok());
}

TEST_F(S3ArtifactsTest, UnknownShaIsNotFoundAndLeavesNothing) {
  const Status fetched = artifacts_->fetch_into(sha_of("never pushed"), *blobs_);
  EXPECT_EQ(fetched.code(), StatusCode::kNotFound) << fetched.to_string();
  EXPECT_NE(fetched.message().find("NoSuchKey"), std::string::npos) << fetched.to_string();
  EXPECT_EQ(count_files(store_root()), 0u);
}

TEST_F(S3ArtifactsTest, WrongCredentialsArePermissionDeniedWithTheS3ErrorCode) {
  // s3rver checks the access key id but not the SigV4 signature itself, so a wrong
  // key id is what it refuses (a real S3 also refuses a wrong secret).
  S3Config wrong = config_;
  wrong.access_key_id = "NOT-A-KEY";
  auto opened = S3Artifacts::open(wrong);
  ASSERT_TRUE(opened.is_ok());
  const std::string bytes = random_bytes(1000, 13);
  const std::string sha = sha_of(bytes);

  const Status fetched = (*opened)->fetch_into(sha, *blobs_);
  EXPECT_EQ(fetched.code(), StatusCode::kPermissionDenied) << fetched.to_string();
  EXPECT_NE(fetched.message().find("InvalidAccessKeyId"), std::string::npos) << fetched.to_string();
  EXPECT_EQ(count_files(store_root()), 0u);

  const Status put = (*opened)->put(sha, write_file(dir_.path() / "small", bytes));
  EXPECT_EQ(put.code(), StatusCode::kPermissionDenied) << put.to_string();
  auto there = (*opened)->exists(sha);
  EXPECT_EQ(there.status().code(), StatusCode::kPermissionDenied) << there.status().to_string();
}

TEST_F(S3ArtifactsTest, TamperedObjectIsDataLossAndLeavesNothing) {
  const std::string bytes = random_bytes(2 * kMiB, 14);
  const std::string sha = sha_of(bytes);
  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "model.pt", bytes)).is_ok());
  std::string tampered = bytes;
  tampered[kMiB] = static_cast<char>(tampered[kMiB] ^ 0x01);
  ASSERT_EQ(raw_put(config_, artifacts_->url_of(sha), tampered), 200);

  const Status fetched = artifacts_->fetch_into(sha, *blobs_);
  EXPECT_EQ(fetched.code(), StatusCode::kDataLoss) << fetched.to_string();
  EXPECT_FALSE(blobs_->exists(sha));
  EXPECT_EQ(count_files(store_root()), 0u) << "a corrupt copy must leave no blob and no temporary file";
}

TEST_F(S3ArtifactsTest, PutRefusesAFileThatDoesNotHashToTheShaAndStoresNothing) {
  const std::string bytes = random_bytes(kMiB + 5, 15);
  const std::string other_sha = sha_of("something else");
  const Status put = artifacts_->put(other_sha, write_file(dir_.path() / "model.pt", bytes));
  EXPECT_EQ(put.code(), StatusCode::kInvalidArgument) << put.to_string();
  auto there = artifacts_->exists(other_sha);
  ASSERT_TRUE(there.is_ok()) << there.status().to_string();
  EXPECT_FALSE(*there) << "an aborted upload must not leave an object under the wrong name";
}

TEST_F(S3ArtifactsTest, SpecAndEnvironmentCredentialsOpenTheSameStore) {
  const std::string bytes = random_bytes(3000, 16);
  const std::string sha = sha_of(bytes);
  ASSERT_TRUE(artifacts_->put(sha, write_file(dir_.path() / "small", bytes)).is_ok());

  ::setenv("AWS_ACCESS_KEY_ID", config_.access_key_id.c_str(), 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", config_.secret_access_key.c_str(), 1);
  ::unsetenv("AWS_SESSION_TOKEN");
  auto opened = open_remote_artifacts(
      "s3://" + config_.bucket + "/" + config_.prefix + "?endpoint=" + config_.endpoint + "&region=" + config_.region,
      "/unused/registry.db");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  EXPECT_EQ((*opened)->describe(), artifacts_->describe());
  const Status fetched = (*opened)->fetch_into(sha, *blobs_);
  ASSERT_TRUE(fetched.is_ok()) << fetched.to_string();
  EXPECT_EQ(read_file(*blobs_->path_of(sha)), bytes);
}

// ---- No server needed ----------------------------------------------------------------

S3Config offline_config(const std::string& endpoint) {
  S3Config config;
  config.endpoint = endpoint;
  config.bucket = "b";
  config.access_key_id = "AKIDEXAMPLE";
  config.secret_access_key = "very-secret-value";
  return config;
}

// A loopback port with a socket that listens but never answers: connects succeed,
// replies never come.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 && ::listen(fd_, 8) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(S3ArtifactsOfflineTest, UnreachableEndpointIsUnavailable) {
  SilentListener listener;
  const int port = listener.port();
  ASSERT_NE(port, 0);
  listener.close();  // now nothing listens there: connections are refused
  auto artifacts = S3Artifacts::open(offline_config("http://127.0.0.1:" + std::to_string(port)));
  ASSERT_TRUE(artifacts.is_ok());
  quiver::testing::TempDir dir;
  auto blobs = BlobStore::open(dir.path() / "store");
  ASSERT_TRUE(blobs.is_ok());
  const std::string sha = sha_of("x");

  EXPECT_EQ((*artifacts)->exists(sha).status().code(), StatusCode::kUnavailable);
  const Status fetched = (*artifacts)->fetch_into(sha, **blobs);
  EXPECT_EQ(fetched.code(), StatusCode::kUnavailable) << fetched.to_string();
  EXPECT_EQ(count_files(dir.path() / "store"), 0u);
  const Status put = (*artifacts)->put(sha, write_file(dir.path() / "x", "x"));
  EXPECT_EQ(put.code(), StatusCode::kUnavailable) << put.to_string();
  EXPECT_EQ(put.message().find("very-secret-value"), std::string::npos);
}

TEST(S3ArtifactsOfflineTest, StalledServerIsAbandonedAsUnavailable) {
  SilentListener listener;
  ASSERT_NE(listener.port(), 0);
  S3Config config = offline_config("http://127.0.0.1:" + std::to_string(listener.port()));
  config.low_speed_time = std::chrono::seconds(1);
  auto artifacts = S3Artifacts::open(config);
  ASSERT_TRUE(artifacts.is_ok());

  const auto start = std::chrono::steady_clock::now();
  auto there = (*artifacts)->exists(sha_of("x"));
  EXPECT_EQ(there.status().code(), StatusCode::kUnavailable) << there.status().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(S3ArtifactsOfflineTest, DescribeNamesBucketPrefixAndEndpointButNoSecret) {
  S3Config config = offline_config("http://127.0.0.1:9000");
  config.prefix = "models/prod";
  auto artifacts = S3Artifacts::open(config);
  ASSERT_TRUE(artifacts.is_ok());
  EXPECT_EQ((*artifacts)->describe(), "s3://b/models/prod at http://127.0.0.1:9000 (region us-east-1)");
  EXPECT_EQ((*artifacts)->url_of(sha_of("x")), "http://127.0.0.1:9000/b/models/prod/" + sha_of("x"));
}

TEST(S3ArtifactsOfflineTest, OpenWithoutCredentialsIsRefused) {
  S3Config config = offline_config("http://127.0.0.1:9000");
  config.secret_access_key.clear();
  auto artifacts = S3Artifacts::open(config);
  EXPECT_EQ(artifacts.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(artifacts.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

}  // namespace
}  // namespace quiver::store
