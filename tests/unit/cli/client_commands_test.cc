#include "cli/client_commands.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "cli/command_context.h"
#include "unit/cli/run_cli.h"
#include "unit/cli/test_http_server.h"

namespace quiver::cli {
namespace {

using nlohmann::json;
using test_support::RecordedRequest;
using test_support::Reply;
using test_support::TestHttpServer;

using test_support::Outcome;
using test_support::run_cli;

std::filesystem::path write_temp(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() /
                    (std::to_string(::getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(ClientCommandsTest, UnreachableServerExitsWithCode3) {
  const std::string url = "http://127.0.0.1:" + std::to_string(test_support::closed_port());
  const Outcome outcome = run_cli({"models", "--server", url});
  EXPECT_EQ(outcome.exit_code, kExitUnreachable);
  EXPECT_EQ(outcome.err, "error: cannot reach the Quiver server at " + url + ": connection refused\n");
  EXPECT_EQ(outcome.out, "");
}

TEST(ClientCommandsTest, ServerErrorPrintsItsMessageAndExitsWithCode1) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{404, R"({"error":"no deployment for model 'ghost'"})"};
  });
  const Outcome outcome = run_cli({"status", "ghost", "--server", server.url()});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  EXPECT_EQ(outcome.err, "error: no deployment for model 'ghost'\n");
  EXPECT_EQ(server.requests().at(0).target, "/v1/deployments/ghost");
}

TEST(ClientCommandsTest, UsageErrorsExitWithCode2BeforeAnyRequest) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, "{}"}; });
  EXPECT_EQ(run_cli({"alias", "m", "prod", "--server", server.url()}).exit_code, kExitUsage);
  EXPECT_EQ(run_cli({"infer", "m", "--server", server.url()}).exit_code, kExitUsage);
  EXPECT_EQ(run_cli({"models", "--server", "ftp://files:21"}).exit_code, kExitUsage);
  EXPECT_EQ(run_cli({"models", "--server", "https://secure:443", "--cacert", "/nonexistent.pem"}).exit_code, kExitUsage);
  const Outcome bad_spec = run_cli({"apply", "-f", "/nonexistent/spec.yaml", "--server", server.url()});
  EXPECT_EQ(bad_spec.exit_code, kExitUsage);
  EXPECT_EQ(bad_spec.err.rfind("error: cannot open '/nonexistent/spec.yaml'", 0), 0u) << bad_spec.err;
  EXPECT_TRUE(server.requests().empty());
}

TEST(ClientCommandsTest, ServerDefaultsToTheEnvironment) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"([{"name":"m","versions":[1],"aliases":{}}])"};
  });
  ::setenv("QUIVER_SERVER", server.url().c_str(), 1);
  const Outcome outcome = run_cli({"models", "--json"});
  ::unsetenv("QUIVER_SERVER");
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(json::parse(outcome.out), json::parse(R"([{"name":"m","versions":[1],"aliases":{}}])"));
}

TEST(ClientCommandsTest, PushUploadsRegistersAndSetsTheAlias) {
  const auto model_file = write_temp("model.onnx", "ONNX!");
  TestHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/v1/blobs") return Reply{201, R"({"sha256":"0123456789abcdef","size":5})"};
    if (r.target == "/v1/models/resnet/versions") return Reply{201, R"({"model":"resnet","version":4})"};
    return Reply{200, R"({"alias":"prod","version":4})"};
  });
  const Outcome outcome =
      run_cli({"push", "--input", "x:FP32:-1,4", "--input", "mask:bool:4", model_file.string(), "--model",
               "resnet", "--metadata", "owner=vision", "--alias", "prod", "--server", server.url()});
  std::filesystem::remove(model_file);

  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(outcome.out,
            "pushed resnet version 4 (sha256 01234567\u2026, 5 B)\n"
            "alias resnet:prod -> version 4\n");
  // stderr is not a terminal here: one summary line instead of a redrawn bar.
  EXPECT_EQ(outcome.err.rfind("uploaded 5 B in ", 0), 0u) << outcome.err;
  EXPECT_EQ(std::count(outcome.err.begin(), outcome.err.end(), '\n'), 1) << outcome.err;

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].body, "ONNX!");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/octet-stream");
  EXPECT_EQ(json::parse(seen[1].body), json::parse(R"({
    "artifact": "0123456789abcdef", "framework": "onnx", "metadata": {"owner": "vision"},
    "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]},
               {"name": "mask", "datatype": "BOOL", "shape": [4]}]})"));
  EXPECT_EQ(seen[2].method, "PUT");
  EXPECT_EQ(seen[2].target, "/v1/models/resnet/aliases/prod");
  EXPECT_EQ(json::parse(seen[2].body), json::parse(R"({"version": 4})"));
}

TEST(ClientCommandsTest, PushWithUnknownExtensionAsksForTheFramework) {
  const auto model_file = write_temp("model.bin", "x");
  const Outcome outcome = run_cli({"push", model_file.string(), "--model", "m", "--server", "http://127.0.0.1:1"});
  std::filesystem::remove(model_file);
  EXPECT_EQ(outcome.exit_code, kExitUsage);
  EXPECT_NE(outcome.err.find("--framework"), std::string::npos) << outcome.err;
}

TEST(ClientCommandsTest, ApplySendsTheSpecWithoutTheModelKey) {
  const auto spec = write_temp("spec.yaml", "model: resnet\nversions:\n  - version: 3\n    instances: 2\n");
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, R"({"model":"resnet","revision":5})"}; });
  const Outcome outcome =
      run_cli({"apply", "-f", spec.string(), "--reason", "more capacity", "--server", server.url()});
  std::filesystem::remove(spec);

  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(outcome.out, "applied resnet revision 5\n");
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "PUT");
  EXPECT_EQ(seen[0].target, "/v1/deployments/resnet");
  EXPECT_EQ(seen[0].headers.at("x-quiver-reason"), "more capacity");
  EXPECT_EQ(seen[0].headers.at("x-quiver-client"), "cli");
  EXPECT_EQ(json::parse(seen[0].body), json::parse(R"({"versions":[{"version":"3","instances":2}]})"));
}

TEST(ClientCommandsTest, ApplyDryRunPrintsTheDiff) {
  const auto spec = write_temp("dry.yaml", "versions: [{version: 3}, {version: 4}]\n");
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"model":"m","dry_run":true,"current":{"versions":[{"version":3}]},
                         "proposed":{"versions":[{"version":3},{"version":4}]}})"};
  });
  const Outcome outcome = run_cli({"apply", "-f", spec.string(), "--model", "m", "--dry-run", "--server", server.url()});
  std::filesystem::remove(spec);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(server.requests().at(0).target, "/v1/deployments/m?dry_run=true");
  EXPECT_EQ(outcome.out,
            "dry run: would change deployment 'm' (1 change):\n"
            "  versions: + 4\n"
            "nothing was applied\n");
}

TEST(ClientCommandsTest, RollbackNamesTheRestoredAndTheNewRevision) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, R"({"revision":9,"restored_revision":6})"}; });
  const Outcome outcome = run_cli({"rollback", "m", "--to", "6", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(outcome.out, "rolled back m to revision 6 (new revision 9)\n");
  EXPECT_EQ(json::parse(server.requests().at(0).body), json::parse(R"({"revision":6})"));
}

TEST(ClientCommandsTest, InferPrintsTheAnswerAndTheServingVersion) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"model_name":"m","outputs":[]})", {{"x-quiver-model-version", "3"}}};
  });
  const Outcome outcome = run_cli({"infer", "m", "--version", "canary", "--input", "x:FP32:-1=1,2",
                                   "--header", "x-user-id: 42", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(json::parse(outcome.out), json::parse(R"({"model_name":"m","outputs":[]})"));
  EXPECT_EQ(outcome.err, "served by version 3\n");
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].target, "/v2/models/m/versions/canary/infer");
  EXPECT_EQ(seen[0].headers.at("x-user-id"), "42");
  EXPECT_EQ(json::parse(seen[0].body),
            json::parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[2],"data":[1.0,2.0]}]})"));
}

}  // namespace
}  // namespace quiver::cli
