// Remote artifact copies in an S3-compatible object store (AWS S3, MinIO, Ceph RGW...),
// through libcurl: path-style URLs ENDPOINT/BUCKET/PREFIX/<sha256>, requests signed
// with AWS Signature V4 by libcurl itself (CURLOPT_AWS_SIGV4).
//
// Uploads stream from the file and downloads stream into a BlobWriter, so an artifact
// never sits in memory whole. Each PUT carries the artifact's sha256 as
// x-amz-content-sha256, which a real S3 verifies against the bytes it receives.
//
// Permissions the credentials need: s3:GetObject, s3:PutObject, and s3:ListBucket on
// the bucket (without it S3 answers a HEAD of a missing key with 403, not 404, and
// exists() reports PermissionDenied instead of false).
//
// Thread-safety: all methods may be called concurrently; each call uses its own curl
// handle and nothing is shared between calls but the immutable configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "store/remote_artifacts.h"

namespace quiver::store {

struct S3Config {
  std::string endpoint;  // "http://127.0.0.1:9000", without a trailing slash
  std::string bucket;
  std::string prefix;  // "" or "models/prod", without leading or trailing slashes
  std::string region = "us-east-1";
  std::string access_key_id;
  std::string secret_access_key;  // never logged nor shown by describe()
  std::string session_token;      // sent as x-amz-security-token when not empty
  std::chrono::seconds connect_timeout{5};
  // A transfer slower than this for low_speed_time is abandoned (Unavailable), so a
  // stalled connection cannot hang a push or a replica's start-up.
  long low_speed_bytes_per_second = 1024;
  std::chrono::seconds low_speed_time{30};
};

// Parses "s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT&region=REGION" (values may be
// percent-encoded). Credentials are not part of the spec. InvalidArgument when malformed.
Result<S3Config> parse_s3_spec(const std::string& spec);

class S3Artifacts final : public RemoteArtifacts {
 public:
  // Checks the configuration; contacts nothing.
  static Result<std::unique_ptr<S3Artifacts>> open(S3Config config);

  std::string describe() const override;
  Status put(const std::string& sha256, const std::filesystem::path& file) override;
  Status fetch_into(const std::string& sha256, BlobStore& blobs) const override;
  Result<bool> exists(const std::string& sha256) const override;

  // The object's URL (no credentials in it).
  std::string url_of(const std::string& sha256) const;

 private:
  explicit S3Artifacts(S3Config config) : config_(std::move(config)) {}

  // The size of the stored object (HEAD), or nothing when there is none.
  Result<std::optional<uint64_t>> stored_size(const std::string& sha256) const;

  const S3Config config_;
};

}  // namespace quiver::store
