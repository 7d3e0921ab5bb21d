// ModelStreamInfer: inference over one bidirectional stream.
//
// Each request read from the stream starts its inference at once (so a client that
// pipelines requests keeps the model busy), and the answers are written strictly in
// request order, one write at a time, as the protocol's clients expect. A failed
// request is answered with its error_message; the stream stays open. Reads pause
// while kMaxInFlight requests are unanswered, which bounds the memory one stream holds.
//
// Thread-safety: gRPC calls the reactions on its threads, inference completes on the
// servables' workers; one mutex guards the state, and no gRPC operation is started
// while it is held (a reaction may run inline).
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

class StreamInferReactor final : public grpc::ServerBidiReactor<ModelInferRequest, ModelStreamInferResponse> {
 public:
  StreamInferReactor(GrpcInferenceService& service, grpc::CallbackServerContext* ctx)
      : service_(service), ctx_(ctx) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side (or the call ended)
      Step step;
      {
        std::lock_guard lock(mu_);
        reads_done_ = true;
        step = next_step_locked();
      }
      run(step);
      return;
    }
    auto request = std::make_shared<ModelInferRequest>();
    request->Swap(&incoming_);
    uint64_t seq = 0;
    bool read_more = false;
    {
      std::lock_guard lock(mu_);
      seq = next_seq_++;
      ++in_flight_;
      read_more = in_flight_ < kMaxInFlight;
      reading_ = read_more;
    }
    if (read_more) StartRead(&incoming_);
    start_inference(seq, std::move(request));
  }

  void OnWriteDone(bool ok) override {
    Step step;
    {
      std::lock_guard lock(mu_);
      writing_ = false;
      if (!ok) broken_ = true;  // the client is gone: drop what is left to write
      step = next_step_locked();
    }
    run(step);
  }

  void OnDone() override { delete this; }

 private:
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
    auto prepared = prepare_infer_call(*request, ctx_->client_metadata(), ctx_->deadline(), service_.limits());
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
    if (!reading_ && !reads_done_ && !broken_ && in_flight_ < kMaxInFlight) {
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
    if (step.write != nullptr) StartWrite(step.write);
    if (step.read) StartRead(&incoming_);
    if (step.finish) Finish(grpc::Status::OK);
  }

  GrpcInferenceService& service_;
  grpc::CallbackServerContext* ctx_;
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

grpc::ServerBidiReactor<inference::ModelInferRequest, inference::ModelStreamInferResponse>*
GrpcInferenceService::ModelStreamInfer(grpc::CallbackServerContext* ctx) {
  return new StreamInferReactor(*this, ctx);
}

}  // namespace quiver::grpc_api
