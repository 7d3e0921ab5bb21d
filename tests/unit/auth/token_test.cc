#include "auth/token.h"

#include <gtest/gtest.h>

#include <set>

namespace quiver::auth {
namespace {

const std::string kId(16, 'a');
const std::string kSecret(64, '0');

TEST(Token, ParsesTheDocumentedFormat) {
  auto t = parse_token("qv_" + kId + "_" + kSecret);
  ASSERT_TRUE(t.is_ok()) << t.status().to_string();
  EXPECT_EQ(t->key_id, kId);
  EXPECT_EQ(t->secret, kSecret);
}

TEST(Token, RefusesMalformedTokensWithoutEchoingThem) {
  const std::string secretish = "qv_" + kId + "_" + std::string(63, 'f') + "Z";
  for (const std::string& bad :
       {std::string(), std::string("qv_"), "xx_" + kId + "_" + kSecret, "qv_" + kId + kSecret,
        "qv_" + kId + "-" + kSecret, "qv_" + kId + "_" + kSecret + "0", "qv_" + std::string(16, 'G') + "_" + kSecret,
        "qv_" + kId + "_" + std::string(64, 'A'), secretish}) {
    auto t = parse_token(bad);
    ASSERT_FALSE(t.is_ok()) << bad;
    EXPECT_EQ(t.status().code(), StatusCode::kUnauthenticated);
    EXPECT_EQ(t.status().message().find("ffff"), std::string::npos) << "the message must not repeat the token";
  }
}

TEST(Token, ParsesBearerCredentials) {
  const std::string token = "qv_" + kId + "_" + kSecret;
  for (const std::string& header : {"Bearer " + token, "bearer " + token, "  BEARER   " + token + "  "}) {
    auto t = parse_bearer(header);
    ASSERT_TRUE(t.is_ok()) << header << ": " << t.status().to_string();
    EXPECT_EQ(t->key_id, kId);
  }
  EXPECT_EQ(parse_bearer("").status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(parse_bearer("").status().message().find("missing token"), std::string::npos);
  auto basic = parse_bearer("Basic dXNlcjpwYXNz");
  ASSERT_FALSE(basic.is_ok());
  EXPECT_NE(basic.status().message().find("unsupported Authorization scheme"), std::string::npos);
  EXPECT_EQ(basic.status().message().find("dXNlcjpwYXNz"), std::string::npos);
  EXPECT_FALSE(parse_bearer("Bearer").is_ok());
  EXPECT_FALSE(parse_bearer(token).is_ok());  // no scheme
}

TEST(Token, GeneratedSecretsAreFreshAndRoundTrip) {
  std::set<std::string> ids, secrets, salts;
  for (int i = 0; i < 50; ++i) {
    auto s = generate_secret();
    ASSERT_TRUE(s.is_ok());
    auto parsed = parse_token(s->token());
    ASSERT_TRUE(parsed.is_ok()) << s->token();
    EXPECT_EQ(parsed->key_id, s->key_id);
    EXPECT_EQ(parsed->secret, s->secret);
    EXPECT_EQ(s->hash, hash_secret(s->salt, s->secret));
    EXPECT_EQ(s->hash.size(), 64u);
    EXPECT_EQ(s->hash.find(s->secret), std::string::npos);
    ids.insert(s->key_id);
    secrets.insert(s->secret);
    salts.insert(s->salt);
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_EQ(secrets.size(), 50u);
  EXPECT_EQ(salts.size(), 50u);
}

TEST(Token, HashDependsOnSaltAndSecret) {
  const std::string salt(32, '1');
  EXPECT_EQ(hash_secret(salt, kSecret), hash_secret(salt, kSecret));
  EXPECT_NE(hash_secret(salt, kSecret), hash_secret(std::string(32, '2'), kSecret));
  EXPECT_NE(hash_secret(salt, kSecret), hash_secret(salt, std::string(64, '1')));
  // Known answer: sha256 of the bytes 0x11 x16 then the secret's text, as Python computes it:
  //   hashlib.sha256(bytes([0x11] * 16) + b"0" * 64).hexdigest()
  EXPECT_EQ(hash_secret(salt, kSecret), "9e1c05a0997213b5d4ae769880bb57e96dcf1d9c1e6a88c2a28962fa3d17d8c3");
  EXPECT_EQ(hash_secret("zz", kSecret), "");
  EXPECT_EQ(hash_secret("abc", kSecret), "");
}

TEST(Token, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal(std::string(64, 'a'), std::string(63, 'a') + "b"));
}

TEST(Token, ParsesDurations) {
  EXPECT_EQ(*parse_duration("90d"), std::chrono::hours(24 * 90));
  EXPECT_EQ(*parse_duration("12h"), std::chrono::hours(12));
  EXPECT_EQ(*parse_duration("30m"), std::chrono::minutes(30));
  EXPECT_EQ(*parse_duration("45s"), std::chrono::seconds(45));
  EXPECT_EQ(*parse_duration("2w"), std::chrono::hours(24 * 14));
  for (const char* bad : {"", "d", "0d", "-1d", "1.5h", "10", "10y", "1 d", "999999999999999999d"}) {
    auto d = parse_duration(bad);
    EXPECT_FALSE(d.is_ok()) << bad;
    if (!d.is_ok()) {
      EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace quiver::auth
