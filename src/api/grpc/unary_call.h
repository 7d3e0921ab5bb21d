// UnaryCall: one unary gRPC call on the completion-queue API, from the moment it is
// posted for a new request until its answer has gone out.
//
//   posted --(request arrives)--> handling --answer()--> answering --> deleted
//      \--(server shutting down)--> deleted
//
// When a request arrives the call first posts its successor on the same queue (so a
// request for the method is always waiting), then runs the handler on the queue's
// thread. The handler answers exactly once, at once or later from any thread (a
// model's worker, the repository's waiter); until then the call, its context, request
// and response stay valid. After answer() the handler must not touch the call.
//
// Thread-safety: each call is used by one thread at a time, in the order above.
#pragma once

#include <functional>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "api/grpc/completion_queues.h"

namespace quiver::grpc_api {

template <class Req, class Resp>
class UnaryCall;

// What a server needs to take one unary method's calls: how to post for a request
// (the generated AsyncService's Request<Method>, bound to its service) and the handler.
template <class Req, class Resp>
struct UnaryMethod {
  std::function<void(grpc::ServerContext*, Req*, grpc::ServerAsyncResponseWriter<Resp>*, grpc::ServerCompletionQueue*,
                     void*)>
      request;
  std::function<void(UnaryCall<Req, Resp>&)> handle;
};

template <class Req, class Resp>
class UnaryCall final : public CallTag {
 public:
  // Posts a new call for `method` on `queue`. `method` and `live` must outlive the
  // queues' stop().
  static void post(const UnaryMethod<Req, Resp>& method, grpc::ServerCompletionQueue* queue, LiveCalls& live) {
    auto* call = new UnaryCall(method, queue, live);
    method.request(&call->context_, &call->request_, &call->responder_, queue, call);
  }

  grpc::ServerContext& context() { return context_; }
  const Req& request() const { return request_; }
  Resp& response() { return response_; }

  // Sends the response (OK) or the error; once.
  void answer(const grpc::Status& status) {
    answered_ = true;
    if (status.ok()) {
      responder_.Finish(response_, status, this);
    } else {
      responder_.FinishWithError(status, this);
    }
  }

  void proceed(bool ok) override {
    if (!ok || answered_) {  // not started (shutting down), or the answer went out (or could not)
      delete this;
      return;
    }
    post(method_, queue_, live_);
    method_.handle(*this);
  }

 private:
  UnaryCall(const UnaryMethod<Req, Resp>& method, grpc::ServerCompletionQueue* queue, LiveCalls& live)
      : method_(method), queue_(queue), live_(live), responder_(&context_) {
    live_.added();
  }
  ~UnaryCall() override { live_.removed(); }

  const UnaryMethod<Req, Resp>& method_;
  grpc::ServerCompletionQueue* const queue_;
  LiveCalls& live_;
  grpc::ServerContext context_;
  Req request_;
  Resp response_;
  grpc::ServerAsyncResponseWriter<Resp> responder_;
  bool answered_ = false;  // written by answer() before the finish operation starts
};

}  // namespace quiver::grpc_api
