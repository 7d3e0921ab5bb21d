// Shared set-up for registry tests: a registry in a fresh folder with a FakeClock.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "core/clock.h"
#include "registry/registry.h"
#include "unit/store/temp_dir.h"

namespace quiver::registry {

inline std::string sha_of_char(char c) { return std::string(64, c); }

inline NewVersion onnx_version(const std::string& model, char sha_char = 'a') {
  NewVersion v;
  v.model = model;
  v.framework = "onnx";
  v.artifact_sha256 = sha_of_char(sha_char);
  v.size = 1234;
  return v;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    reopen();
  }
  void reopen() {
    registry_.reset();
    auto opened = Registry::open(db_path(), clock_);
    ASSERT_TRUE(opened.is_ok()) << opened.status().to_string();
    registry_ = std::move(opened).value();
  }
  std::filesystem::path db_path() const { return dir_.path() / "data" / "registry.db"; }

  // Registers versions 1..n of `model` (onnx, distinct artifacts).
  void add_versions(const std::string& model, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = registry_->create_version(onnx_version(model, static_cast<char>('a' + i)), actor_);
      ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    }
  }

  testing::TempDir dir_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
  std::unique_ptr<Registry> registry_;
  Actor actor_{"test-client", "testing"};
};

}  // namespace quiver::registry
