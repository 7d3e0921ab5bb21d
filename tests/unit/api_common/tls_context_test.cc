// TLS options: which combinations start, and the errors for the ones that do not.
// Handshakes, mutual TLS and reload run against the real binary in tests/e2e/test_tls.py.
#include "api/common/tls_context.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace quiver::api {
namespace {

TlsOptions with(std::string cert, std::string key, std::string ca = "", ClientAuth mode = ClientAuth::kNone) {
  TlsOptions o;
  o.cert_file = cert;
  o.key_file = key;
  o.client_ca_file = ca;
  o.client_auth = mode;
  return o;
}

TEST(TlsOptions, ClientAuthNames) {
  EXPECT_EQ(*parse_client_auth("none"), ClientAuth::kNone);
  EXPECT_EQ(*parse_client_auth("optional"), ClientAuth::kOptional);
  EXPECT_EQ(*parse_client_auth("require"), ClientAuth::kRequire);
  EXPECT_FALSE(parse_client_auth("yes").is_ok());
  EXPECT_EQ(client_auth_name(ClientAuth::kOptional), "optional");
}

TEST(TlsOptions, Combinations) {
  EXPECT_TRUE(with("", "").validate().is_ok());  // no TLS
  EXPECT_FALSE(with("", "").enabled());
  EXPECT_TRUE(with("c.pem", "k.pem").validate().is_ok());
  EXPECT_TRUE(with("c.pem", "k.pem", "ca.pem", ClientAuth::kRequire).validate().is_ok());
  EXPECT_FALSE(with("c.pem", "").validate().is_ok());
  EXPECT_FALSE(with("", "k.pem").validate().is_ok());
  EXPECT_FALSE(with("c.pem", "k.pem", "", ClientAuth::kOptional).validate().is_ok());
  EXPECT_FALSE(with("c.pem", "k.pem", "ca.pem", ClientAuth::kNone).validate().is_ok());
  EXPECT_FALSE(with("", "", "ca.pem", ClientAuth::kRequire).validate().is_ok());
  TlsOptions old = with("c.pem", "k.pem");
  old.min_version = "1.1";
  EXPECT_FALSE(old.validate().is_ok());
}

TEST(TlsContextProvider, UnreadableOrWrongFilesAreNamed) {
  const auto dir = std::filesystem::temp_directory_path() / "quiver_tls_context_test";
  std::filesystem::create_directories(dir);
  auto missing = TlsContextProvider::create(with((dir / "nope.pem").string(), (dir / "nope.key").string()));
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("nope.pem"), std::string::npos);

  std::ofstream(dir / "junk.pem") << "not a certificate\n";
  auto junk = TlsContextProvider::create(with((dir / "junk.pem").string(), (dir / "junk.pem").string()));
  ASSERT_FALSE(junk.is_ok());
  EXPECT_NE(junk.status().message().find("certificate"), std::string::npos) << junk.status().message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace quiver::api
