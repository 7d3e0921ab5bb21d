// How an operator names the remote artifact store: the spec strings and what a
// mistake in one reports. No server is contacted here.
#include <gtest/gtest.h>

#include <cstdlib>

#include "store/remote_artifacts.h"
#include "store/s3_artifacts.h"

namespace quiver::store {
namespace {

TEST(S3SpecTest, BucketPrefixEndpointAndRegion) {
  auto config = parse_s3_spec("s3://models/prod/v2?endpoint=http://127.0.0.1:9000/&region=eu-west-3");
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  EXPECT_EQ(config->bucket, "models");
  EXPECT_EQ(config->prefix, "prod/v2");
  EXPECT_EQ(config->endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(config->region, "eu-west-3");
}

TEST(S3SpecTest, DefaultsToAwsForTheRegion) {
  auto config = parse_s3_spec("s3://models?region=eu-west-3");
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  EXPECT_EQ(config->prefix, "");
  EXPECT_EQ(config->endpoint, "https://s3.eu-west-3.amazonaws.com");
  auto plain = parse_s3_spec("s3://models/");
  ASSERT_TRUE(plain.is_ok()) << plain.status().to_string();
  EXPECT_EQ(plain->region, "us-east-1");
  EXPECT_EQ(plain->prefix, "");
}

TEST(S3SpecTest, PercentEncodedEndpointIsDecoded) {
  auto config = parse_s3_spec("s3://b?endpoint=http%3A%2F%2Fminio.local%3A9000");
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  EXPECT_EQ(config->endpoint, "http://minio.local:9000");
}

TEST(S3SpecTest, MistakesAreInvalidArgumentsThatShowTheExpectedForm) {
  for (const char* spec : {"s3://", "s3://?endpoint=http://h:1", "s3://b?endpoint=ftp://h", "s3://b?color=blue",
                           "s3://b?endpoint", "s3://b/a b", "s3://b/a//c", "s3://b?endpoint=http%3", "gs://b"}) {
    auto config = parse_s3_spec(spec);
    ASSERT_FALSE(config.is_ok()) << spec;
    EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument) << spec;
    EXPECT_NE(config.status().message().find("s3://BUCKET"), std::string::npos) << config.status().to_string();
  }
}

TEST(OpenRemoteArtifactsTest, UnknownKindIsInvalidArgument) {
  auto opened = open_remote_artifacts("ftp://somewhere", "postgresql://postgres@127.0.0.1:1/quiver");
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("postgresql"), std::string::npos) << opened.status().to_string();
}

TEST(OpenRemoteArtifactsTest, PostgresqlNeedsAPostgresqlRegistry) {
  auto opened = open_remote_artifacts("postgresql", "/var/lib/quiver/registry.db");
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("postgresql://"), std::string::npos) << opened.status().to_string();
}

TEST(OpenRemoteArtifactsTest, PostgresqlThatCannotBeReachedIsUnavailable) {
  auto opened = open_remote_artifacts("postgresql", "postgresql://postgres@127.0.0.1:1/quiver");
  EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable) << opened.status().to_string();
}

TEST(OpenRemoteArtifactsTest, S3NeedsCredentialsFromTheEnvironment) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  auto opened = open_remote_artifacts("s3://b?endpoint=http://127.0.0.1:9000", "");
  EXPECT_EQ(opened.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(opened.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos) << opened.status().to_string();
}

TEST(OpenRemoteArtifactsTest, S3DescriptionCarriesNoSecret) {
  ::setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-very-secret", 1);
  auto opened = open_remote_artifacts("s3://b/p?endpoint=http://127.0.0.1:9000&region=us-west-2", "");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
  EXPECT_EQ((*opened)->describe(), "s3://b/p at http://127.0.0.1:9000 (region us-west-2)");
  EXPECT_EQ((*opened)->describe().find("very-secret"), std::string::npos);
}

}  // namespace
}  // namespace quiver::store
