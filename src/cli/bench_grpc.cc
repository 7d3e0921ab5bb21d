#include "cli/bench_grpc.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <memory>

#include <fmt/format.h>
#include <grpcpp/grpcpp.h>

#include "proto/grpc_predict_v2.grpc.pb.h"

namespace quiver::cli {
namespace {

using SystemClock = std::chrono::system_clock;

// The longest a worker waits for its channel to (re)connect before it counts an
// error and tries again: short, so a server that went away during the run is
// reported as a stream of errors rather than one stalled worker per timeout.
constexpr auto kConnectWaitCap = std::chrono::seconds(1);

// A channel of its own: the local subchannel pool keeps gRPC from sharing one TCP
// connection between channels to the same address. Message size limits are lifted,
// as the HTTP path has none below 1 GiB and large batches must not fail here.
std::shared_ptr<grpc::Channel> make_channel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // A load generator measures each call once: no transparent retries.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A fresh context per call (gRPC forbids reuse) with the deadline and metadata.
void prepare_context(grpc::ClientContext& context, const Headers& metadata, std::chrono::milliseconds timeout) {
  context.set_deadline(SystemClock::now() + timeout);
  for (const auto& [name, value] : metadata) context.AddMetadata(lowercase(name), value);
}

bool wait_until_connected(grpc::Channel& channel, std::chrono::milliseconds limit) {
  if (channel.GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) return true;
  return channel.WaitForConnected(SystemClock::now() + limit);
}

// The Quiver code closest to a gRPC code, for the error of the first request.
StatusCode quiver_code(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return StatusCode::kInvalidArgument;
    case grpc::StatusCode::NOT_FOUND: return StatusCode::kNotFound;
    case grpc::StatusCode::ALREADY_EXISTS: return StatusCode::kAlreadyExists;
    case grpc::StatusCode::FAILED_PRECONDITION: return StatusCode::kFailedPrecondition;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return StatusCode::kResourceExhausted;
    case grpc::StatusCode::UNAVAILABLE: return StatusCode::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return StatusCode::kDeadlineExceeded;
    case grpc::StatusCode::DATA_LOSS: return StatusCode::kDataLoss;
    default: return StatusCode::kInternal;
  }
}

// One worker's channel and stub, and its own copy of the request message. Calls go
// through the worker's own completion queue, polled by the worker itself, instead of
// the fresh queue a blocking stub call makes for every call.
class GrpcSender final : public RequestSender {
 public:
  GrpcSender(const GrpcLoadTarget& target, const inference::ModelInferRequest& request,
             std::chrono::milliseconds timeout)
      : channel_(make_channel(target.address)),
        stub_(inference::GRPCInferenceService::NewStub(channel_)),
        request_(request),
        metadata_(target.metadata),
        timeout_(timeout) {
    // Starts connecting now, before the clock starts, instead of on the first call.
    channel_->GetState(/*try_to_connect=*/true);
  }

  // Waits for the connection outside the timed span, as the HTTP path connects
  // before it starts timing a request.
  RequestOutcome prepare() override {
    if (wait_until_connected(*channel_, std::min<std::chrono::milliseconds>(timeout_, kConnectWaitCap))) {
      return {true, {}, false};
    }
    return {false, "gRPC UNAVAILABLE (not connected)", true};
  }

  ~GrpcSender() override {
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  RequestOutcome send() override {
    grpc::ClientContext context;
    prepare_context(context, metadata_, timeout_);
    grpc::Status status;
    auto call = stub_->AsyncModelInfer(&context, request_, &queue_);
    call->Finish(&response_, &status, this);
    void* tag = nullptr;
    bool ok = false;
    // The one call in flight is the only thing this queue ever answers.
    if (!queue_.Next(&tag, &ok) || tag != this || !ok) return {false, "gRPC completion queue failed", true};
    if (status.ok()) return {true, {}, false};
    const bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE;
    return {false, "gRPC " + grpc_code_name(static_cast<int>(status.error_code())), unreachable};
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
  grpc::CompletionQueue queue_;
  const inference::ModelInferRequest request_;
  // Kept between calls so that its buffers are reused.
  inference::ModelInferResponse response_;
  const Headers& metadata_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

inference::ModelInferRequest build_grpc_infer_request(const GrpcLoadTarget& target) {
  inference::ModelInferRequest request;
  request.set_model_name(target.model);
  request.set_model_version(target.version);
  for (const Tensor& tensor : target.inputs) {
    auto* input = request.add_inputs();
    input->set_name(tensor.name());
    input->set_datatype(std::string(datatype_name(tensor.dtype())));
    for (int64_t dim : tensor.shape()) input->add_shape(dim);
    // Tensor bytes are already the raw layout: row-major little-endian values, BYTES
    // elements as a 4-byte length and the bytes.
    request.add_raw_input_contents(reinterpret_cast<const char*>(tensor.bytes().data()), tensor.byte_size());
  }
  return request;
}

std::string grpc_code_name(int code) {
  // Indexed by the code numbers of the gRPC specification (statuscodes.md).
  static constexpr std::array<std::string_view, 17> kNames = {
      "OK",        "CANCELLED",         "UNKNOWN",           "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS",    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",      "UNIMPLEMENTED",     "INTERNAL",         "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  if (code < 0 || static_cast<size_t>(code) >= kNames.size()) return fmt::format("CODE {}", code);
  return std::string(kNames[static_cast<size_t>(code)]);
}

Status check_grpc_request(const GrpcLoadTarget& target, std::chrono::milliseconds timeout) {
  const auto channel = make_channel(target.address);
  if (!wait_until_connected(*channel, timeout)) {
    return unavailable(fmt::format(
        "cannot connect to the gRPC server at {}; is the server started with a gRPC port? "
        "(pass --grpc-server HOST:PORT or set QUIVER_GRPC_SERVER)",
        target.address));
  }
  const auto stub = inference::GRPCInferenceService::NewStub(channel);
  grpc::ClientContext context;
  prepare_context(context, target.metadata, timeout);
  inference::ModelInferResponse response;
  const grpc::Status status = stub->ModelInfer(&context, build_grpc_infer_request(target), &response);
  if (status.ok()) return Status::ok();
  return {quiver_code(status.error_code()),
          fmt::format("the first request failed, so no load was started: gRPC {}: {}",
                      grpc_code_name(static_cast<int>(status.error_code())), status.error_message())};
}

Result<LevelResult> run_grpc_load(const GrpcLoadTarget& target, const LoadOptions& options) {
  const inference::ModelInferRequest request = build_grpc_infer_request(target);
  return run_load_with(
      [&]() -> std::unique_ptr<RequestSender> {
        return std::make_unique<GrpcSender>(target, request, options.request_timeout);
      },
      options);
}

}  // namespace quiver::cli
