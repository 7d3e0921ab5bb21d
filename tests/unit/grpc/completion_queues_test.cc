// The completion-queue machinery under a real gRPC server on loopback: calls answered
// later from another thread, stop() while a model still computes, and many clients
// over several queue threads.
#include "api/grpc/completion_queues.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "api/grpc/unary_call.h"
#include "proto/grpc_predict_v2.grpc.pb.h"

namespace quiver::grpc_api {
namespace {

using inference::ServerLiveRequest;
using inference::ServerLiveResponse;
using LiveCall = UnaryCall<ServerLiveRequest, ServerLiveResponse>;

// A server whose ServerLive handler either answers at once or, for the first call
// when `hold_first` is set, keeps the call for the test to answer (as a model's worker
// answers an inference).
class TestServer {
 public:
  explicit TestServer(int threads, bool hold_first) : hold_first_(hold_first) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&async_);
    queues_.add_to(builder, threads);
    server_ = builder.BuildAndStart();
    method_.request = [this](grpc::ServerContext* ctx, ServerLiveRequest* req,
                             grpc::ServerAsyncResponseWriter<ServerLiveResponse>* writer,
                             grpc::ServerCompletionQueue* queue, void* tag) {
      async_.RequestServerLive(ctx, req, writer, queue, queue, tag);
    };
    method_.handle = [this](LiveCall& call) {
      call.response().set_live(true);
      {
        std::lock_guard lock(mu_);
        handled_threads_.push_back(std::this_thread::get_id());
        if (hold_first_ && held_ == nullptr && !held_once_) {
          held_ = &call;
          held_once_ = true;
          return;
        }
      }
      call.answer(grpc::Status::OK);
    };
    for (size_t i = 0; i < queues_.size(); ++i) LiveCall::post(method_, queues_.queue(i), queues_.live());
    queues_.start();
  }

  ~TestServer() { stop(); }

  void stop() {
    if (!server_) return;
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(30));
    queues_.stop();
    server_.reset();
  }

  // The held call, once it arrived (null before).
  LiveCall* held() {
    std::lock_guard lock(mu_);
    return held_;
  }
  size_t distinct_threads() {
    std::lock_guard lock(mu_);
    std::vector<std::thread::id> ids = handled_threads_;
    std::sort(ids.begin(), ids.end());
    return static_cast<size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
  }

  std::unique_ptr<inference::GRPCInferenceService::Stub> stub() {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials());
    return inference::GRPCInferenceService::NewStub(channel);
  }
  CompletionQueues& queues() { return queues_; }

 private:
  const bool hold_first_;
  int port_ = 0;
  inference::GRPCInferenceService::AsyncService async_;
  UnaryMethod<ServerLiveRequest, ServerLiveResponse> method_;
  CompletionQueues queues_;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  LiveCall* held_ = nullptr;
  bool held_once_ = false;
  std::vector<std::thread::id> handled_threads_;
};

grpc::Status server_live(inference::GRPCInferenceService::Stub& stub, ServerLiveResponse& resp,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  ServerLiveRequest req;
  return stub.ServerLive(&ctx, req, &resp);
}

// Waits (bounded) until `done` holds, yielding in between.
template <class F>
bool eventually(F done, std::chrono::seconds bound = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(CompletionQueues, AnswersManyClientsOverEveryQueue) {
  TestServer server(/*threads=*/3, /*hold_first=*/false);
  EXPECT_EQ(server.queues().size(), 3u);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      auto stub = server.stub();
      for (int i = 0; i < 100; ++i) {
        ServerLiveResponse resp;
        if (server_live(*stub, resp).ok() && resp.live()) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 800);
  server.stop();
  EXPECT_EQ(server.queues().live().count(), 0);  // every call object is gone
}

TEST(CompletionQueues, StopWaitsForACallAnsweredLaterFromAnotherThread) {
  TestServer server(/*threads=*/2, /*hold_first=*/true);
  auto stub = server.stub();
  grpc::Status first_status;
  ServerLiveResponse first;
  std::thread client([&] { first_status = server_live(*stub, first); });
  ASSERT_TRUE(eventually([&] { return server.held() != nullptr; }));

  std::atomic<bool> stopped{false};
  std::thread stopper([&] {
    server.stop();
    stopped = true;
  });
  // Stopping has begun once a new call is refused; the held call is still open, so
  // stop() cannot have returned.
  auto probe = server.stub();
  ASSERT_TRUE(eventually([&] {
    ServerLiveResponse resp;
    return !server_live(*probe, resp, std::chrono::milliseconds(500)).ok();
  }));
  EXPECT_FALSE(stopped.load());
  EXPECT_GT(server.queues().live().count(), 0);

  // The "model" answers from this thread, after the server stopped accepting.
  server.held()->answer(grpc::Status::OK);
  stopper.join();
  client.join();
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
  EXPECT_TRUE(first.live());
  EXPECT_EQ(server.queues().live().count(), 0);
}

}  // namespace
}  // namespace quiver::grpc_api
