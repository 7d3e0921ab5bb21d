// ModelStreamInfer: inference over one bidirectional stream.
//
// Each request read from the stream starts its inference at once (so a client that
// pipelines requests keeps the model busy), and the answers are written strictly in
// request order, one write at a time, as the protocol's clients expect. A failed
// request is answered with its error_message; the stream stays open. Reads pause
// while kMaxInFlight requests are unanswered, which bounds the memory one stream holds.
//
// The stream's operations (the new call, each read, each write, the finish) come back
// on its completion queue; inference completes on the servables' workers. The object
// deletes itself once its finish has gone out: by then no read or write is pending
// (finish waits for the client's end of stream and for the last write), and no
// inference callback is (finish waits for every answer).
//
// Thread-safety: one mutex guards the state; no gRPC operation is started while it is
// held, so that the mutex is never held across gRPC's own locks.
#include <map>
#include <memory>
#include <mutex>

#include "api/grpc/grpc_inference_service.h"
#include "api/grpc/infer_call.h"

namespace quiver::grpc_api {
namespace {

using inference::ModelInferRequest;
using inference::ModelStreamInferResponse;

constexpr int kMaxInFlight = 64;

class StreamInferCall final {
 public:
  static void post(GrpcInferenceService& service, inference::GRPCInferenceService::AsyncService& async,
                   grpc::ServerCompletionQueue* queue, LiveCalls& live) {
    auto* call = new StreamInferCall(service, async, queue, live);
    async.RequestModelStreamInfer(&call->ctx_, &call->stream_, queue, queue, &call->started_);
  }

 private:
  enum class Op { kStarted, kRead, kWrite, kFinish };
  // One of the stream's operations; its queue hands it back to the stream.
  struct OpTag final : CallTag {
    OpTag(StreamInferCall& owner, Op which) : call(owner), op(which) {}
    void proceed(bool ok) override { call.on(op, ok); }
    StreamInferCall& call;
    const Op op;
  };

  StreamInferCall(GrpcInferenceService& service, inference::GRPCInferenceService::AsyncService& async,
                  grpc::ServerCompletionQueue* queue, LiveCalls& live)
      : service_(service), async_(async), queue_(queue), live_(live), stream_(&ctx_) {
    live_.added();
  }
  ~StreamInferCall() { live_.removed(); }

  void on(Op op, bool ok) {
    switch (op) {
      case Op::kStarted:
        if (!ok) {  // the server is shutting down
          delete this;
          return;
        }
        post(service_, async_, queue_, live_);  // the next stream's call waits in its place
        stream_.Read(&incoming_, &read_);
        return;
      case Op::kRead: return on_read_done(ok);
      case Op::kWrite: return on_write_done(ok);
      case Op::kFinish: delete this; return;
    }
  }

  void on_read_done(bool ok) {
    if (!ok) {  // the client closed its side (or the call ended)
      Step step;
      {
        std::lock_guard lock(mu_);
        reading_ = false;
        reads_done_ = true;
        step = next_step_locked();
      }
      run(step);
      return;
    }
    auto request = std::make_shared<ModelInferRequest>();
    request->Swap(&incoming_);
    uint64_t seq = 0;
    Step step;
    {
      std::lock_guard lock(mu_);
      seq = next_seq_++;
      ++in_flight_;
      reading_ = false;
      step = next_step_locked();
    }
    run(step);
    start_inference(seq, std::move(request));
  }

  void on_write_done(bool ok) {
    Step step;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the client is gone: drop what is left to write
      step = next_step_locked();
    }
    run(step);
  }

  // What to start once the mutex is released.
  struct Step {
    const ModelStreamInferResponse* write = nullptr;
    bool read = false;
    bool finish = false;
  };

  void start_inference(uint64_t seq, std::shared_ptr<ModelInferRequest> request) {
    const std::string& model = request->model_name();
    if (model.empty())
      return answer(seq, *request, invalid_argument("invalid inference request: model_name is empty"));
    if (auto denied = service_.authorize(ctx_, auth::Permission::kInfer, model); !denied.ok())
      return answer(seq, *request, Status(status_code_of(denied), denied.error_message()));
    auto prepared = prepare_infer_call(*request, ctx_.client_metadata(), ctx_.deadline(), service_.limits());
    if (!prepared.is_ok()) return answer(seq, *request, prepared.status());
    service_.inference().infer(std::move(prepared->call),
                               [this, seq, request, typed = prepared->typed](Result<api::InferOutcome> r,
                                                                           int64_t version) {
                                 ModelStreamInferResponse out;
                                 Status st = r.status();
                                 if (r.is_ok())
                                   st = fill_infer_response(*request, std::move(r).value(), version, typed,
                                                            *out.mutable_infer_response());
                                 if (!st.is_ok()) return answer(seq, *request, st, version);
                                 complete(seq, std::move(out));
                               });
  }

  // An error answer names the model, version and id, so a client can match it.
  void answer(uint64_t seq, const ModelInferRequest& request, const Status& error, int64_t version = 0) {
    ModelStreamInferResponse out;
    out.set_error_message(error.message());
    auto* resp = out.mutable_infer_response();
    resp->set_model_name(request.model_name());
    resp->set_model_version(version > 0 ? std::to_string(version) : request.model_version());
    resp->set_id(request.id());
    complete(seq, std::move(out));
  }

  void complete(uint64_t seq, ModelStreamInferResponse out) {
    Step step;
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      if (!broken_) ready_.emplace(seq, std::move(out));
      step = next_step_locked();
    }
    run(step);
  }

  static StatusCode status_code_of(const grpc::Status& st) {
    switch (st.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED: return StatusCode::kUnauthenticated;
      case grpc::StatusCode::RESOURCE_EXHAUSTED: return StatusCode::kResourceExhausted;
      default: return StatusCode::kPermissionDenied;
    }
  }

  Step next_step_locked() {
    Step step;
    if (!writing_ && !broken_) {
      auto it = ready_.find(next_write_);
      if (it != ready_.end()) {
        writing_ = true;
        current_ = std::move(it->second);
        ready_.erase(it);
        ++next_write_;
        step.write = &current_;
      }
    }
    if (broken_) ready_.clear();
    // A broken stream still reads, to learn of its end (the read fails at once).
    if (!reading_ && !reads_done_ && (broken_ || in_flight_ < kMaxInFlight)) {
      reading_ = true;
      step.read = true;
    }
    // Done when the client has sent everything and every answer is out (or can no
    // longer go out); no inference callback may still be pending.
    if (reads_done_ && in_flight_ == 0 && !writing_ && ready_.empty() && !finished_) {
      finished_ = true;
      step.finish = true;
    }
    return step;
  }

  void run(const Step& step) {
    if (step.write != nullptr) stream_.Write(*step.write, &write_);
    if (step.read) stream_.Read(&incoming_, &read_);
    if (step.finish) stream_.Finish(grpc::Status::OK, &finish_);
  }

  GrpcInferenceService& service_;
  inference::GRPCInferenceService::AsyncService& async_;
  grpc::ServerCompletionQueue* const queue_;
  LiveCalls& live_;
  grpc::ServerContext ctx_;
  grpc::ServerAsyncReaderWriter<ModelStreamInferResponse, ModelInferRequest> stream_;
  OpTag started_{*this, Op::kStarted};
  OpTag read_{*this, Op::kRead};
  OpTag write_{*this, Op::kWrite};
  OpTag finish_{*this, Op::kFinish};
  ModelInferRequest incoming_;  // the read in progress fills it; only one at a time

  std::mutex mu_;
  uint64_t next_seq_ = 0;    // the next request's position in the stream
  uint64_t next_write_ = 0;  // the position whose answer goes out next
  std::map<uint64_t, ModelStreamInferResponse> ready_;  // answers waiting for their turn
  ModelStreamInferResponse current_;                    // the write in progress
  int in_flight_ = 0;        // requests read and not yet answered
  bool reading_ = true;      // a read is outstanding
  bool writing_ = false;
  bool reads_done_ = false;
  bool broken_ = false;
  bool finished_ = false;
};

}  // namespace

void GrpcInferenceService::post_stream_infer(inference::GRPCInferenceService::AsyncService& async,
                                             grpc::ServerCompletionQueue* queue, LiveCalls& live) {
  StreamInferCall::post(*this, async, queue, live);
}

}  // namespace quiver::grpc_api
