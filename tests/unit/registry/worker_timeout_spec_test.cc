// The per-version `worker_timeout_ms` of a deployment spec: the longest a backend call
// may take in a worker process (isolation: process) before its requests fail with 504
// and the worker is killed and restarted.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "registry/deployment_spec_json.h"

namespace quiver::registry {
namespace {

using nlohmann::json;

Result<DeploymentSpec> parse(const json& version) {
  return parse_deployment_spec(json{{"versions", json::array({version})}}.dump());
}

TEST(WorkerTimeoutSpecTest, DefaultsToThirtySecondsAndIsKeptWhenGiven) {
  auto defaulted = parse({{"version", "1"}, {"isolation", "process"}});
  ASSERT_TRUE(defaulted.is_ok()) << defaulted.status().to_string();
  EXPECT_EQ(defaulted->versions[0].worker_timeout_ms, 30'000);
  EXPECT_EQ(serialize_deployment_spec(*defaulted).find("worker_timeout_ms"), std::string::npos);

  auto given = parse({{"version", "1"}, {"isolation", "process"}, {"worker_timeout_ms", 1500}});
  ASSERT_TRUE(given.is_ok()) << given.status().to_string();
  EXPECT_EQ(given->versions[0].worker_timeout_ms, 1500);
  auto again = parse_deployment_spec(serialize_deployment_spec(*given));
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(again->versions[0].worker_timeout_ms, 1500);

  auto off = parse({{"version", "1"}, {"isolation", "process"}, {"worker_timeout_ms", 0}});
  ASSERT_TRUE(off.is_ok()) << off.status().to_string();
  EXPECT_EQ(off->versions[0].worker_timeout_ms, 0);  // no limit
}

TEST(WorkerTimeoutSpecTest, NeedsIsolationAndASaneRange) {
  auto in_process = parse({{"version", "1"}, {"worker_timeout_ms", 1500}});
  EXPECT_EQ(in_process.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(in_process.status().message().find("versions[0].worker_timeout_ms needs isolation: process"),
            std::string::npos)
      << in_process.status().message();
  for (const json& bad : {json(-1), json(3'600'001), json("30s"), json(1.5)}) {
    auto r = parse({{"version", "1"}, {"isolation", "process"}, {"worker_timeout_ms", bad}});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad.dump();
  }
}

}  // namespace
}  // namespace quiver::registry
