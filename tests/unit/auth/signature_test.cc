// Artifact signatures, with keys and signatures made by the openssl command line
// exactly as a user makes them, checked both ways: what openssl signs, Quiver
// verifies; what Quiver signs (`quiver push --sign`), openssl verifies.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "auth/signature.h"
#include "auth/signature_policy.h"
#include "auth/trusted_keys.h"
#include "registry/registry.h"
#include "unit/store/temp_dir.h"

namespace quiver::auth {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write(const fs::path& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// Runs a shell command; its stdout.
std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int rc = ::pclose(pipe);
  EXPECT_EQ(rc, 0) << command;
  return out;
}

std::vector<uint8_t> bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

class SignatureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    for (const char* name : {"alice", "mallory"}) {
      const fs::path key = dir_.path() / (std::string(name) + ".key");
      run("openssl ecparam -name prime256v1 -genkey -noout -out " + key.string());
      run("openssl ec -in " + key.string() + " -pubout -out " + (dir_.path() / (std::string(name) + ".pub")).string());
    }
    artifact_ = dir_.path() / "model.onnx";
    write(artifact_, "pretend these are the bytes of a model\n" + std::string(5000, 'w'));
    artifact_sha_ = run("sha256sum " + artifact_.string()).substr(0, 64);
    trust_dir_ = dir_.path() / "trusted";
    fs::create_directories(trust_dir_);
    fs::copy_file(dir_.path() / "alice.pub", trust_dir_ / "alice.pem");
  }

  // base64 of `openssl dgst -sha256 -sign KEY FILE`, as the docs tell users to do it.
  std::string openssl_sign(const std::string& who, const fs::path& file) {
    return run("openssl dgst -sha256 -sign " + (dir_.path() / (who + ".key")).string() + " " + file.string() +
               " | openssl base64 -A");
  }

  std::string key_pem(const std::string& name) { return slurp(dir_.path() / name); }

  TrustedKeys trusted() {
    auto keys = TrustedKeys::load_dir(trust_dir_);
    EXPECT_TRUE(keys.is_ok()) << keys.status().to_string();
    return std::move(keys).value();
  }

  testing::TempDir dir_;
  fs::path artifact_;
  std::string artifact_sha_;
  fs::path trust_dir_;
};

TEST(Base64Test, RoundTripsAndRejectsGarbage) {
  for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    const std::string encoded = base64_encode(bytes(s));
    auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded.is_ok()) << encoded;
    EXPECT_EQ(std::string(decoded->begin(), decoded->end()), s);
  }
  EXPECT_EQ(base64_encode(bytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(bytes("fo")), "Zm8=");
  EXPECT_TRUE(base64_decode("Zm9v\nYmFy\n").is_ok());  // openssl base64 wraps lines
  EXPECT_TRUE(base64_decode("Zm8").is_ok());           // padding optional
  EXPECT_FALSE(base64_decode("Zm9v!").is_ok());
  EXPECT_FALSE(base64_decode("Z").is_ok());
  EXPECT_FALSE(base64_decode("Zm8=A").is_ok());
}

TEST_F(SignatureTest, KeyIdIsTheDocumentedFingerprint) {
  const std::string pub = (dir_.path() / "alice.pub").string();
  const std::string expected =
      run("openssl pkey -pubin -in " + pub + " -outform DER | sha256sum").substr(0, 16);
  EXPECT_EQ(key_id_of_public_pem(key_pem("alice.pub")).value(), expected);
  EXPECT_EQ(key_id_of_private_pem(key_pem("alice.key")).value(), expected);
  EXPECT_EQ(trusted().keys().at(0).id, expected);
  EXPECT_EQ(trusted().keys().at(0).name, "alice");
}

TEST_F(SignatureTest, WhatOpensslSignsVerifies) {
  const std::string signature = openssl_sign("alice", artifact_);
  auto der = decode_signature(signature);
  ASSERT_TRUE(der.is_ok()) << der.status().to_string();
  const auto digest = digest_from_hex(artifact_sha_).value();
  const TrustedKeys keys = trusted();
  EXPECT_EQ(keys.find_signer(digest, *der), key_id_of_public_pem(key_pem("alice.pub")).value());

  // Another key's signature, or the right signature over other bytes: no signer.
  const auto mallory = decode_signature(openssl_sign("mallory", artifact_)).value();
  EXPECT_FALSE(keys.find_signer(digest, mallory).has_value());
  auto other = digest;
  other[0] ^= 1;
  EXPECT_FALSE(keys.find_signer(other, *der).has_value());
}

TEST_F(SignatureTest, WhatQuiverSignsOpensslVerifies) {
  auto signed_ = sign_artifact_digest(key_pem("alice.key"), artifact_sha_);
  ASSERT_TRUE(signed_.is_ok()) << signed_.status().to_string();
  EXPECT_EQ(signed_->key_id, key_id_of_public_pem(key_pem("alice.pub")).value());
  const auto der = base64_decode(signed_->base64).value();
  write(dir_.path() / "sig.bin", std::string(der.begin(), der.end()));
  const std::string verdict = run("openssl dgst -sha256 -verify " + (dir_.path() / "alice.pub").string() +
                                  " -signature " + (dir_.path() / "sig.bin").string() + " " + artifact_.string());
  EXPECT_NE(verdict.find("Verified OK"), std::string::npos) << verdict;
  // A DER file (openssl dgst -sign -out) and base64 text read the same.
  EXPECT_EQ(signature_file_to_base64(std::string(der.begin(), der.end())).value(), signed_->base64);
  EXPECT_EQ(signature_file_to_base64(signed_->base64 + "\n").value(), signed_->base64);
}

TEST_F(SignatureTest, MalformedSignaturesSayWhatIsWrong) {
  auto not_base64 = decode_signature("this is not base64!");
  ASSERT_FALSE(not_base64.is_ok());
  EXPECT_NE(not_base64.status().message().find("not base64"), std::string::npos);
  auto not_der = decode_signature(base64_encode(bytes("hello world, not DER")));
  ASSERT_FALSE(not_der.is_ok());
  EXPECT_NE(not_der.status().message().find("not a DER-encoded ECDSA signature"), std::string::npos);
  std::string good = openssl_sign("alice", artifact_);
  auto der = base64_decode(good).value();
  der.push_back(0);
  auto trailing = decode_signature(base64_encode(der));
  ASSERT_FALSE(trailing.is_ok());
  EXPECT_EQ(trailing.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SignatureTest, TrustStoreRefusesWhatIsNotAP256PublicKey) {
  fs::copy_file(dir_.path() / "alice.key", trust_dir_ / "oops.pem");
  auto loaded = TrustedKeys::load_dir(trust_dir_);
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_NE(loaded.status().message().find("oops"), std::string::npos) << loaded.status().message();
  EXPECT_NE(loaded.status().message().find("private key"), std::string::npos) << loaded.status().message();
  fs::remove(trust_dir_ / "oops.pem");

  run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out " + (dir_.path() / "rsa.key").string());
  run("openssl pkey -in " + (dir_.path() / "rsa.key").string() + " -pubout -out " + (trust_dir_ / "rsa.pem").string());
  loaded = TrustedKeys::load_dir(trust_dir_);
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_NE(loaded.status().message().find("not an EC key"), std::string::npos) << loaded.status().message();
  fs::remove(trust_dir_ / "rsa.pem");

  fs::create_directories(dir_.path() / "empty");
  EXPECT_FALSE(TrustedKeys::load_dir(dir_.path() / "empty").is_ok());
  EXPECT_FALSE(TrustedKeys::load_dir(dir_.path() / "missing").is_ok());
  // The same key twice counts once; non-.pem files are ignored.
  fs::copy_file(trust_dir_ / "alice.pem", trust_dir_ / "alice-copy.pem");
  write(trust_dir_ / "README", "not a key");
  EXPECT_EQ(trusted().keys().size(), 1u);
}

class SignaturePolicyTest : public SignatureTest {
 protected:
  void SetUp() override {
    SignatureTest::SetUp();
    auto reg = registry::Registry::open(dir_.path() / "data" / "registry.db");
    ASSERT_TRUE(reg.is_ok()) << reg.status().to_string();
    registry_ = std::move(reg).value();
    alice_id_ = key_id_of_public_pem(key_pem("alice.pub")).value();
  }

  SignaturePolicy policy(bool global) {
    return SignaturePolicy(std::make_shared<const TrustedKeys>(trusted()), global, *registry_);
  }

  std::unique_ptr<registry::Registry> registry_;
  std::string alice_id_;
};

TEST_F(SignaturePolicyTest, RegistrationUnderAGlobalPolicy) {
  const SignaturePolicy p = policy(true);
  auto unsigned_ = p.verify_new_version("iris", artifact_sha_, "", "");
  ASSERT_FALSE(unsigned_.is_ok());
  EXPECT_EQ(unsigned_.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unsigned_.status().message().find("--require-signature"), std::string::npos);

  EXPECT_EQ(p.verify_new_version("iris", artifact_sha_, openssl_sign("alice", artifact_), "").value(), alice_id_);
  EXPECT_EQ(p.verify_new_version("iris", artifact_sha_, openssl_sign("alice", artifact_), alice_id_).value(),
            alice_id_);

  auto untrusted = p.verify_new_version("iris", artifact_sha_, openssl_sign("mallory", artifact_), "");
  ASSERT_FALSE(untrusted.is_ok());
  EXPECT_EQ(untrusted.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(untrusted.status().message().find("untrusted key"), std::string::npos);

  const std::string mallory_id = key_id_of_public_pem(key_pem("mallory.pub")).value();
  auto named_untrusted = p.verify_new_version("iris", artifact_sha_, openssl_sign("mallory", artifact_), mallory_id);
  ASSERT_FALSE(named_untrusted.is_ok());
  EXPECT_NE(named_untrusted.status().message().find("does not trust"), std::string::npos);

  const std::string other_sha(64, 'e');  // a signature over other bytes
  auto mismatch = p.verify_new_version("iris", other_sha, openssl_sign("alice", artifact_), alice_id_);
  ASSERT_FALSE(mismatch.is_ok());
  EXPECT_EQ(mismatch.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(mismatch.status().message().find("does not match artifact"), std::string::npos);

  auto garbage = p.verify_new_version("iris", artifact_sha_, "bm90IGEgc2lnbmF0dXJl", "");
  EXPECT_EQ(garbage.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SignaturePolicyTest, PerModelPolicyAndChecksAtLoad) {
  const SignaturePolicy p = policy(false);
  EXPECT_EQ(p.verify_new_version("iris", artifact_sha_, "", "").value(), "");  // nothing required
  // A signature given is verified even when none is required.
  EXPECT_FALSE(p.verify_new_version("iris", artifact_sha_, openssl_sign("mallory", artifact_), "").is_ok());

  registry::NewVersion v;
  v.model = "iris";
  v.framework = "onnx";
  v.artifact_sha256 = artifact_sha_;
  ASSERT_TRUE(registry_->create_version(v, {}).is_ok());  // v1, unsigned
  v.artifact_signature = openssl_sign("alice", artifact_);
  v.signed_by = alice_id_;
  auto v2 = registry_->create_version(v, {});
  ASSERT_TRUE(v2.is_ok()) << v2.status().to_string();
  EXPECT_EQ(registry_->get_version("iris", 2)->signed_by, alice_id_);
  EXPECT_EQ(registry_->list_models()->at(0).signed_by.at(2), alice_id_);

  EXPECT_TRUE(p.verify_before_load(*registry_->get_version("iris", 1)).is_ok());
  ASSERT_TRUE(registry_->set_model_policy({"iris", true, ""}, {}).is_ok());
  EXPECT_TRUE(p.required_for("iris").value());
  EXPECT_FALSE(p.required_for("other").value());
  auto unsigned_ = p.verify_new_version("iris", artifact_sha_, "", "");
  ASSERT_FALSE(unsigned_.is_ok());
  EXPECT_NE(unsigned_.status().message().find("its policy"), std::string::npos);
  // Turned on after v1 was registered: v1 may no longer load, v2 may.
  auto load1 = p.verify_before_load(*registry_->get_version("iris", 1));
  ASSERT_FALSE(load1.is_ok());
  EXPECT_NE(load1.message().find("unsigned"), std::string::npos);
  EXPECT_TRUE(p.verify_before_load(*registry_->get_version("iris", 2)).is_ok());
  // A key taken out of the trust store stops its versions from loading.
  const SignaturePolicy no_keys(std::make_shared<const TrustedKeys>(), false, *registry_);
  EXPECT_EQ(no_keys.verify_before_load(*registry_->get_version("iris", 2)).code(), StatusCode::kPermissionDenied);
}

TEST_F(SignaturePolicyTest, VersionsStayImmutable) {
  registry::NewVersion v;
  v.model = "iris";
  v.framework = "onnx";
  v.artifact_sha256 = artifact_sha_;
  v.artifact_signature = "abc";  // a signature without its signer is refused
  EXPECT_EQ(registry_->create_version(v, {}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::auth
