#include "cli/bench_grpc.h"

#include <atomic>
#include <cstring>
#include <memory>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "cli/bench_options.h"
#include "proto/grpc_predict_v2.grpc.pb.h"

namespace quiver::cli {
namespace {

using std::chrono::milliseconds;

// An in-process inference service: every odd call succeeds, every even call is
// answered UNAVAILABLE when `fail_every_other` is set. Records the last request.
class FakeInferenceService final : public inference::GRPCInferenceService::Service {
 public:
  bool fail_every_other = false;
  std::atomic<int> calls{0};
  std::atomic<bool> saw_metadata{false};

  grpc::Status ModelInfer(grpc::ServerContext* context, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    const int call = ++calls;
    const auto& metadata = context->client_metadata();
    const auto found = metadata.find("x-tenant");
    if (found != metadata.end() && found->second == "blue") saw_metadata = true;
    if (request->model_name() != "iris") return {grpc::StatusCode::NOT_FOUND, "unknown model"};
    if (fail_every_other && call % 2 == 0) return {grpc::StatusCode::UNAVAILABLE, "not ready"};
    response->set_model_name(request->model_name());
    return grpc::Status::OK;
  }
};

class FakeServer {
 public:
  explicit FakeServer(FakeInferenceService& service) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() { server_->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

GrpcLoadTarget iris_target(std::string address) {
  GrpcLoadTarget target;
  target.address = std::move(address);
  target.model = "iris";
  const float values[] = {1.5f, -2.0f, 0.25f, 4.0f};
  target.inputs.push_back(Tensor::from_values<float>("input", DataType::kFp32, {1, 4}, values));
  return target;
}

TEST(BenchGrpcTest, RequestCarriesEachInputAsRawLittleEndianBytes) {
  GrpcLoadTarget target = iris_target("127.0.0.1:1");
  target.version = "2";
  const int64_t ids[] = {7, 9};
  target.inputs.push_back(Tensor::from_values<int64_t>("ids", DataType::kInt64, {2}, ids));

  const inference::ModelInferRequest request = build_grpc_infer_request(target);
  EXPECT_EQ(request.model_name(), "iris");
  EXPECT_EQ(request.model_version(), "2");
  ASSERT_EQ(request.inputs_size(), 2);
  ASSERT_EQ(request.raw_input_contents_size(), 2);
  EXPECT_EQ(request.inputs(0).name(), "input");
  EXPECT_EQ(request.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(request.inputs(0).shape().begin(), request.inputs(0).shape().end()),
            (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(request.inputs(1).datatype(), "INT64");
  EXPECT_FALSE(request.inputs(0).has_contents());  // raw form only
  const std::string& raw = request.raw_input_contents(1);
  ASSERT_EQ(raw.size(), 2 * sizeof(int64_t));
  int64_t second = 0;
  std::memcpy(&second, raw.data() + sizeof(int64_t), sizeof(second));
  EXPECT_EQ(second, 9);
}

TEST(BenchGrpcTest, StatusCodesAreNamedAsInTheGrpcSpecification) {
  EXPECT_EQ(grpc_code_name(static_cast<int>(grpc::StatusCode::UNAVAILABLE)), "UNAVAILABLE");
  EXPECT_EQ(grpc_code_name(static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED)), "DEADLINE_EXCEEDED");
  EXPECT_EQ(grpc_code_name(static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)), "UNAUTHENTICATED");
  EXPECT_EQ(grpc_code_name(99), "CODE 99");
}

TEST(BenchGrpcTest, CountsSuccessesAndErrorsByCodeAndStopsAfterTheRequestBudget) {
  FakeInferenceService service;
  service.fail_every_other = true;
  FakeServer server(service);
  GrpcLoadTarget target = iris_target(server.address());
  target.metadata["X-Tenant"] = "blue";

  LoadOptions options;
  options.connections = 1;
  options.max_requests = 10;
  options.duration = std::chrono::seconds(30);
  options.request_timeout = milliseconds(5000);
  const auto level = run_grpc_load(target, options);
  ASSERT_TRUE(level.is_ok()) << level.status().message();
  EXPECT_EQ(level->ok, 5);
  EXPECT_EQ(level->errors, 5);
  EXPECT_EQ(level->error_breakdown.at("gRPC UNAVAILABLE"), 5);
  EXPECT_EQ(level->latency.count, 5);
  EXPECT_GT(level->latency.min_ns, 0);
  EXPECT_TRUE(service.saw_metadata);  // header names were lowercased for gRPC
}

TEST(BenchGrpcTest, FirstRequestCheckReportsTheServersMessage) {
  FakeInferenceService service;
  FakeServer server(service);
  EXPECT_TRUE(check_grpc_request(iris_target(server.address()), milliseconds(5000)).is_ok());

  GrpcLoadTarget unknown = iris_target(server.address());
  unknown.model = "nosuch";
  const Status status = check_grpc_request(unknown, milliseconds(5000));
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("gRPC NOT_FOUND: unknown model"), std::string::npos) << status.message();
}

TEST(BenchGrpcTest, AddressDefaultsToTheHttpHostWithTheGrpcPort) {
  EXPECT_EQ(*grpc_server_address("", "example.com", kDefaultGrpcPort), "example.com:8001");
  EXPECT_EQ(*grpc_server_address("", "::1", kDefaultGrpcPort), "[::1]:8001");
  EXPECT_EQ(*grpc_server_address(" 10.0.0.2:9001 ", "example.com", kDefaultGrpcPort), "10.0.0.2:9001");
  EXPECT_EQ(*grpc_server_address("[::1]:9001", "example.com", kDefaultGrpcPort), "[::1]:9001");
  for (const char* bad : {"example.com", "http://example.com:8001", ":8001", "host:0", "host:x", "::1:8001"}) {
    EXPECT_EQ(grpc_server_address(bad, "h", kDefaultGrpcPort).status().code(), StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace quiver::cli
