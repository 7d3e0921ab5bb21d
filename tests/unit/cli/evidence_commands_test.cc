// `quiver eval`, `quiver compare` and `quiver feedback` against a fake server: the
// requests they send, how they print the answers, and how they fail.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "cli/client_commands.h"
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

using test_support::has_line;

// A file that is removed when the test ends.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& content)
      : path_(std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name)) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

const char* const kClassificationReport = R"({
  "id": 7, "model": "iris", "version": 3, "created_at": "2024-05-01T10:00:00Z",
  "dataset": "0123456789abcdef0123", "label": "species", "n": 4,
  "metrics": {"task": "classification", "n": 4, "accuracy": 0.75, "macro_precision": 0.8333,
              "macro_recall": 0.75, "macro_f1": 0.7333,
              "per_class": [{"class": 0, "label": "setosa", "precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2},
                            {"class": 1, "label": "versicolor", "precision": 0.5, "recall": 1.0, "f1": 0.6667,
                             "support": 1},
                            {"class": 2, "precision": 1.0, "recall": 0.0, "f1": 0.0, "support": 1}],
              "confusion": [[2, 0, 0], [0, 1, 0], [0, 1, 0]]},
  "errors": 0, "duration_ms": 12, "latency_ms": {"p50": 1.234, "p99": 4.5, "mean": 1.75}})";

TEST(EvalCommandTest, UploadsTheDatasetThenEvaluatesAndPrintsTheReport) {
  const TempFile dataset("iris.csv", "x0,x1,species\n1,2,0\n");
  TestHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/v1/blobs") return Reply{201, R"({"sha256":"0123456789abcdef0123","size":21})"};
    return Reply{201, kClassificationReport};
  });
  const Outcome outcome = run_cli({"eval", "iris", "3", "--dataset", dataset.path(), "--label", "species",
                                   "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1/blobs");
  EXPECT_EQ(seen[0].headers.at("content-type"), "application/octet-stream");
  EXPECT_EQ(seen[0].body, "x0,x1,species\n1,2,0\n");
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].target, "/v1/models/iris/versions/3/evaluations");
  EXPECT_EQ(json::parse(seen[1].body), json::parse(R"({"dataset":"0123456789abcdef0123","label":"species"})"));

  const std::string& out = outcome.out;
  EXPECT_TRUE(has_line(out, "evaluation 7: iris version 3 on dataset 0123456789ab (label species)")) << out;
  EXPECT_TRUE(has_line(out, "n 4  errors 0  duration 12 ms")) << out;
  EXPECT_TRUE(has_line(out, "accuracy 75%  macro F1 0.733  macro precision 0.833  macro recall 0.750")) << out;
  EXPECT_TRUE(has_line(out, "latency p50 1.23 ms  p99 4.50 ms  mean 1.75 ms")) << out;
  EXPECT_TRUE(has_line(out, "CLASS  LABEL       PRECISION  RECALL  F1     SUPPORT")) << out;
  EXPECT_TRUE(has_line(out, "2      -           1.000      0.000   0.000  1")) << out;
  EXPECT_TRUE(has_line(out, "confusion matrix (rows: truth, columns: predicted):")) << out;
  EXPECT_TRUE(has_line(out, "TRUTH \\ PREDICTED  setosa  versicolor  2")) << out;
  EXPECT_TRUE(has_line(out, "setosa             2       0           0")) << out;
  EXPECT_TRUE(has_line(out, "2                  0       1           0")) << out;
}

TEST(EvalCommandTest, RegressionPrintsMaeAndRmse) {
  const TempFile dataset("prices.jsonl", "{\"x\":[1],\"y\":2}\n");
  TestHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/v1/blobs") return Reply{201, R"({"sha256":"feed","size":17})"};
    return Reply{201, R"({"id":"e1","model":"prices","version":"2","dataset":"feed","n":100,
      "metrics":{"task":"regression","n":100,"mae":0.12345,"rmse":0.5},"errors":1,
      "error_samples":[{"line":5,"error":"input 'x' is missing"}],
      "duration_ms":250,"latency_ms":{"p50":0.5,"p99":2,"mean":0.7}})"};
  });
  const Outcome outcome = run_cli({"eval", "prices", "canary", "-d", dataset.path(), "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].target, "/v1/models/prices/versions/canary/evaluations");
  EXPECT_EQ(json::parse(seen[1].body), json::parse(R"({"dataset":"feed"})"));
  EXPECT_EQ(outcome.out,
            "evaluation e1: prices version 2 on dataset feed\n"
            "n 100  errors 1  duration 250 ms\n"
            "MAE 0.1235  RMSE 0.5\n"
            "latency p50 0.50 ms  p99 2 ms  mean 0.70 ms\n"
            "  line 5: input 'x' is missing\n");
}

TEST(EvalCommandTest, JsonPrintsTheReport) {
  const TempFile dataset("d.csv", "a\n");
  TestHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/v1/blobs") return Reply{201, R"({"sha256":"0123456789abcdef0123","size":2})"};
    return Reply{201, kClassificationReport};
  });
  const Outcome outcome = run_cli({"eval", "iris", "3", "--dataset", dataset.path(), "--json", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(json::parse(outcome.out), json::parse(kClassificationReport));
}

TEST(EvalCommandTest, ListShowsPastEvaluationsNewestFirst) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, std::string("[") + kClassificationReport +
                          R"(,{"id":6,"created_at":"2024-04-30T09:00:00Z","dataset":"abc","n":0,
                               "metrics":{"task":"unknown","n":0},"errors":3}])"};
  });
  const Outcome outcome = run_cli({"eval", "iris", "prod", "--list", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1/models/iris/versions/prod/evaluations");
  EXPECT_EQ(outcome.out,
            "ID  CREATED               DATASET       LABEL    N  RESULT                        ERRORS  P99\n"
            "7   2024-05-01T10:00:00Z  0123456789ab  species  4  accuracy 75%  macro F1 0.733  0       4.50 ms\n"
            "6   2024-04-30T09:00:00Z  abc           -        0  -                             3       -\n");
}

TEST(EvalCommandTest, ArgumentErrorsSendNothing) {
  const TempFile dataset("x.csv", "a\n");
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, "{}"}; });
  const Outcome no_dataset = run_cli({"eval", "iris", "3", "--server", server.url()});
  EXPECT_EQ(no_dataset.exit_code, kExitUsage);
  EXPECT_NE(no_dataset.err.find("--dataset"), std::string::npos) << no_dataset.err;
  EXPECT_EQ(run_cli({"eval", "iris", "3", "--list", "--dataset", dataset.path(), "--server", server.url()}).exit_code,
            kExitUsage);
  const Outcome missing = run_cli({"eval", "iris", "3", "--dataset", "/nonexistent/d.csv", "--server", server.url()});
  EXPECT_EQ(missing.exit_code, kExitUsage);
  EXPECT_EQ(missing.err, "error: '/nonexistent/d.csv' is not a file\n");
  EXPECT_NE(run_cli({"eval", "iris", "--dataset", dataset.path(), "--server", server.url()}).exit_code, 0);
  EXPECT_TRUE(server.requests().empty());
}

TEST(EvalCommandTest, ServerRefusalIsPrinted) {
  const TempFile dataset("bad.csv", "a\n");
  TestHttpServer server([](const RecordedRequest& r) {
    if (r.target == "/v1/blobs") return Reply{201, R"({"sha256":"beef","size":2})"};
    return Reply{404, R"({"error":"model 'iris' has no version 9"})"};
  });
  const Outcome outcome = run_cli({"eval", "iris", "9", "--dataset", dataset.path(), "--server", server.url()});
  EXPECT_EQ(outcome.exit_code, kExitFailure);
  // The upload's progress summary comes first (as for `quiver push`), then the refusal.
  EXPECT_TRUE(outcome.err.ends_with("\nerror: model 'iris' has no version 9\n")) << outcome.err;
  EXPECT_EQ(outcome.out, "");
}

const char* const kComparison = R"({
  "model": "iris",
  "versions": [
    {"version": 1, "deployed": true, "state": "ready", "requests": 1000, "errors": 10, "error_rate": 0.01,
     "p50_ms": 2.04, "p99_ms": 9.5, "instances": 2, "compute_seconds": 12.5, "cost": 0.0125, "memory_mb": 512,
     "accuracy": 0.9, "f1": 0.88, "accuracy_source": "feedback", "shadow_agreement": null,
     "evaluation": null, "quality": null},
    {"version": 2, "deployed": true, "state": "ready", "requests": 500, "errors": 0, "error_rate": 0,
     "p50_ms": 1.5, "p99_ms": 6.24, "instances": 1, "cost": 0.004, "memory_mb": 640.4,
     "accuracy": 0.95, "f1": 0.941, "accuracy_source": "evaluation", "shadow_agreement": 0.97,
     "evaluation": {"id": 3}, "quality": null},
    {"version": 3, "deployed": false, "state": null, "requests": null, "error_rate": null,
     "accuracy": null, "accuracy_source": null}
  ],
  "objective": {
    "weights": {"accuracy": 1, "p99_ms": -0.5}, "budget": {"memory_mb": 600},
    "rows": [
      {"version": 1, "score": 0.25, "normalised": {"accuracy": 0.0, "p99_ms": 1.0}, "within_budget": true,
       "excluded_reason": null},
      {"version": 2, "score": null, "normalised": {"accuracy": 1.0, "p99_ms": 0.0}, "within_budget": false,
       "excluded_reason": "memory_mb 640 > 600"},
      {"version": 3, "score": 0.5, "normalised": {"accuracy": 0.5}, "within_budget": true, "excluded_reason": null}
    ],
    "best": 3}})";

TEST(CompareCommandTest, PrintsVersionsSideBySideAndTheScoresBestFirst) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{200, kComparison}; });
  const Outcome outcome = run_cli({"compare", "iris", "1", "2", "3", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1/models/iris/compare?versions=1,2,3");
  EXPECT_EQ(outcome.out,
            "model iris\n"
            "VERSION           1               2                 3\n"
            "state             ready           ready             not deployed\n"
            "requests          1000            500               -\n"
            "error rate        1%              0%                -\n"
            "p50               2.0 ms          1.5 ms            -\n"
            "p99               9.5 ms          6.2 ms            -\n"
            "accuracy          90% (feedback)  95% (evaluation)  -\n"
            "F1                0.880           0.941             -\n"
            "shadow agreement  -               97%               -\n"
            "cost              0.0125          0.004             -\n"
            "memory            512 MB          640 MB            -\n"
            "\n"
            "objective: weights accuracy=1 p99_ms=-0.5  budget memory_mb=600\n"
            "   VERSION  SCORE  accuracy  p99_ms  IN BUDGET  EXCLUDED\n"
            "*  3        0.5    0.5       -       yes        -\n"
            "   1        0.25   0         1       yes        -\n"
            "   2        -      1         0       no         memory_mb 640 > 600\n"
            "best: version 3\n");
}

TEST(CompareCommandTest, WithoutVersionsSendsNoQuery) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"model":"m","versions":[{"version":1,"state":"ready"}],"objective":null})"};
  });
  const Outcome outcome = run_cli({"compare", "m", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(server.requests().at(0).target, "/v1/models/m/compare");
  EXPECT_EQ(outcome.out.find("objective"), std::string::npos) << outcome.out;
  EXPECT_TRUE(has_line(outcome.out, "state             ready")) << outcome.out;
  EXPECT_TRUE(has_line(outcome.out, "accuracy          -")) << outcome.out;
}

TEST(CompareCommandTest, JsonAndErrors) {
  TestHttpServer server([](const RecordedRequest& r) {
    if (r.target.find("ghost") != std::string::npos) return Reply{404, R"({"error":"no model named 'ghost'"})"};
    return Reply{200, kComparison};
  });
  const Outcome as_json = run_cli({"compare", "iris", "--json", "--server", server.url()});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.err;
  EXPECT_EQ(json::parse(as_json.out), json::parse(kComparison));

  const Outcome missing = run_cli({"compare", "ghost", "--server", server.url()});
  EXPECT_EQ(missing.exit_code, kExitFailure);
  EXPECT_EQ(missing.err, "error: no model named 'ghost'\n");

  const size_t before = server.requests().size();
  EXPECT_EQ(run_cli({"compare", "iris", "1,2", "--server", server.url()}).exit_code, kExitUsage);
  EXPECT_EQ(server.requests().size(), before);
}

TEST(FeedbackCommandTest, SendsTruthAsNumberOrStringAndRewards) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"joined":1,"unknown":0,"expired":0,"duplicate":0,"invalid":0})"};
  });
  const Outcome number = run_cli({"feedback", "iris", "req-1", "--truth", "2", "--server", server.url()});
  ASSERT_EQ(number.exit_code, 0) << number.err;
  EXPECT_EQ(number.out, "joined 1  unknown 0  expired 0\n");
  EXPECT_EQ(run_cli({"feedback", "iris", "req-2", "--truth", "setosa", "--server", server.url()}).exit_code, 0);
  EXPECT_EQ(run_cli({"feedback", "prices", "req-3", "--truth", "2.5", "--server", server.url()}).exit_code, 0);
  EXPECT_EQ(run_cli({"feedback", "rec", "req-4", "--reward", "0.75", "--server", server.url()}).exit_code, 0);

  const auto seen = server.requests();
  ASSERT_EQ(seen.size(), 4u);
  for (const auto& r : seen) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.target, "/v1/feedback");
  }
  EXPECT_EQ(json::parse(seen[0].body), json::parse(R"({"model":"iris","id":"req-1","truth":2})"));
  EXPECT_TRUE(json::parse(seen[0].body)["truth"].is_number_integer());
  EXPECT_EQ(json::parse(seen[1].body), json::parse(R"({"model":"iris","id":"req-2","truth":"setosa"})"));
  EXPECT_EQ(json::parse(seen[2].body), json::parse(R"({"model":"prices","id":"req-3","truth":2.5})"));
  EXPECT_EQ(json::parse(seen[3].body), json::parse(R"({"model":"rec","id":"req-4","reward":0.75})"));
}

TEST(FeedbackCommandTest, ReportsUnjoinedFeedback) {
  TestHttpServer server([](const RecordedRequest&) {
    return Reply{200, R"({"joined":0,"unknown":1,"expired":0,"duplicate":0,"invalid":0,
                          "errors":["no prediction with id 'nope'"]})"};
  });
  const Outcome outcome = run_cli({"feedback", "iris", "nope", "--truth", "1", "--server", server.url()});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(outcome.out, "joined 0  unknown 1  expired 0\n  no prediction with id 'nope'\n");
}

TEST(FeedbackCommandTest, ArgumentErrorsAndRefusals) {
  TestHttpServer server([](const RecordedRequest&) { return Reply{404, R"({"error":"no model named 'ghost'"})"}; });
  EXPECT_EQ(run_cli({"feedback", "iris", "r1", "--server", server.url()}).exit_code, kExitUsage);
  EXPECT_EQ(run_cli({"feedback", "iris", "r1", "--truth", "1", "--reward", "1", "--server", server.url()}).exit_code,
            kExitUsage);
  const Outcome bad_reward = run_cli({"feedback", "iris", "r1", "--reward", "lots", "--server", server.url()});
  EXPECT_EQ(bad_reward.exit_code, kExitUsage);
  EXPECT_EQ(bad_reward.err, "error: --reward must be a number, not 'lots'\n");
  EXPECT_NE(run_cli({"feedback", "iris", "--truth", "1", "--server", server.url()}).exit_code, 0);
  EXPECT_TRUE(server.requests().empty());

  const Outcome refused = run_cli({"feedback", "ghost", "r1", "--truth", "1", "--server", server.url()});
  EXPECT_EQ(refused.exit_code, kExitFailure);
  EXPECT_EQ(refused.err, "error: no model named 'ghost'\n");
}

}  // namespace
}  // namespace quiver::cli
