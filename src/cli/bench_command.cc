// `quiver bench MODEL ...`: a load generator in the manner of perf_analyzer. Builds
// random inputs from the model's signature, checks that one request succeeds, then
// drives the server at each concurrency of a sweep (or at a fixed request rate) and
// reports throughput, exact latency percentiles and errors by kind. The load goes
// over HTTP/1.1 or, with --protocol grpc, as ModelInfer calls on the gRPC port; the
// model's metadata is read over HTTP either way.
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>

#include <fmt/format.h>

#include "cli/bench_grpc.h"
#include "cli/bench_inputs.h"
#include "cli/bench_load.h"
#include "cli/bench_options.h"
#include "cli/bench_report.h"
#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/tensor_args.h"
#include "cli/text_table.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

// Connections used for --rate when --concurrency is not given: enough that a
// loopback server answering in a few milliseconds keeps up with thousands of
// requests per second.
constexpr int kDefaultRateConnections = 16;
// With --requests alone, the run is still bounded in time.
constexpr auto kRequestsOnlyLimit = std::chrono::hours(1);
// Same seed every run: the same request bytes, so runs compare.
constexpr uint64_t kInputSeed = 20240611;

struct BenchArgs {
  std::string server;
  std::string model;
  std::string version;
  std::string concurrency = "1";
  double rate = 0;
  std::string duration = "10s";
  std::string warmup = "1s";
  std::string timeout = "30s";
  int64_t requests = 0;
  std::string protocol = "http";
  std::string grpc_server;  // --grpc-server; "" falls back to $QUIVER_GRPC_SERVER
  bool binary = false;
  int64_t batch = 1;
  std::vector<std::string> inputs;
  std::vector<std::string> headers;
  bool json = false;
  // Set from CLI11 after parsing: which options the user gave.
  bool concurrency_given = false;
  bool duration_given = false;
};

std::string model_path(const BenchArgs& a) {
  std::string path = fmt::format("/v2/models/{}", encode_path_segment(a.model));
  if (!a.version.empty()) path += fmt::format("/versions/{}", encode_path_segment(a.version));
  return path;
}

Result<std::vector<BenchInputSpec>> input_specs(CommandContext& ctx, const BenchArgs& a) {
  if (!a.inputs.empty()) return ctx.usage(bench_inputs_from_args(a.inputs, a.batch));
  QUIVER_ASSIGN_OR_RETURN(json metadata, ctx.get(model_path(a)));
  const json* inputs = field(metadata, "inputs");
  return ctx.usage(bench_inputs_from_specs(inputs ? *inputs : json(), a.batch));
}

Result<LoadTarget> load_target(CommandContext& ctx, const BenchArgs& a, const BenchRequestBody& body) {
  QUIVER_ASSIGN_OR_RETURN(ServerUrl url, ctx.usage(parse_server_url(a.server)));
  // The load generator keeps raw sockets open by the hundred; TLS would measure
  // handshakes and record layers rather than the server. Benchmark a plain listener.
  if (url.tls)
    return ctx.usage(invalid_argument("quiver bench sends plain HTTP; give it an http:// listener (or --grpc)"));
  LoadTarget target;
  target.host = url.host;
  target.port = url.port;
  target.target = url.prefix + model_path(a) + "/infer";
  for (const auto& arg : a.headers) {
    QUIVER_ASSIGN_OR_RETURN(auto header, ctx.usage(parse_header_arg(arg)));
    target.headers[header.first] = header.second;
  }
  if (!ctx.token().empty() && !target.headers.count("Authorization") && !target.headers.count("authorization"))
    target.headers["Authorization"] = "Bearer " + ctx.token();
  if (body.json_length) {
    target.headers["Content-Type"] = "application/octet-stream";
    target.headers["Inference-Header-Content-Length"] = std::to_string(*body.json_length);
  } else {
    target.headers["Content-Type"] = "application/json";
  }
  target.body = body.body;
  return target;
}

// One request through the ordinary client first: a model that is not ready or
// inputs that do not fit fail here with the server's message, instead of as a
// table full of "HTTP 400".
Status check_one_request(CommandContext& ctx, const LoadTarget& target, const std::string& path) {
  HttpRequest request;
  request.method = "POST";
  request.target = path;
  request.headers = target.headers;
  request.body = target.body;
  const Status sent = ctx.send(std::move(request)).status();
  if (sent.is_ok()) return sent;
  return {sent.code(), fmt::format("the first request failed, so no load was started: {}", sent.message())};
}

Result<GrpcLoadTarget> grpc_load_target(CommandContext& ctx, const BenchArgs& a, std::vector<Tensor> inputs) {
  QUIVER_ASSIGN_OR_RETURN(ServerUrl url, ctx.usage(parse_server_url(a.server)));
  std::string given = a.grpc_server;
  if (given.empty()) {
    if (const char* env = std::getenv("QUIVER_GRPC_SERVER")) given = env;
  }
  GrpcLoadTarget target;
  QUIVER_ASSIGN_OR_RETURN(target.address, ctx.usage(grpc_server_address(given, url.host, kDefaultGrpcPort)));
  target.model = a.model;
  target.version = a.version;
  for (const auto& arg : a.headers) {
    QUIVER_ASSIGN_OR_RETURN(auto header, ctx.usage(parse_header_arg(arg)));
    target.metadata[header.first] = header.second;
  }
  if (!ctx.token().empty() && !target.metadata.count("authorization"))
    target.metadata["authorization"] = "Bearer " + ctx.token();
  target.inputs = std::move(inputs);
  return target;
}

Status run_bench(CommandContext& ctx, BenchArgs a) {
  if (a.protocol != "http" && a.protocol != "grpc") {
    return ctx.usage(invalid_argument(fmt::format("--protocol must be http or grpc, not '{}'", a.protocol)));
  }
  if (a.batch < 1) return ctx.usage(invalid_argument("--batch must be at least 1"));
  if (a.requests < 0) return ctx.usage(invalid_argument("--requests must not be negative"));
  if (a.rate < 0) return ctx.usage(invalid_argument("--rate must be positive"));

  QUIVER_ASSIGN_OR_RETURN(std::vector<int> levels, ctx.usage(parse_concurrency_list(a.concurrency)));
  if (a.rate > 0) {
    if (levels.size() > 1) {
      return ctx.usage(invalid_argument("with --rate, --concurrency is one number: the connections to use"));
    }
    if (!a.concurrency_given) levels = {kDefaultRateConnections};
  }
  LoadOptions options;
  QUIVER_ASSIGN_OR_RETURN(options.duration, ctx.usage(parse_duration_arg(a.duration)));
  if (a.requests > 0 && !a.duration_given) options.duration = kRequestsOnlyLimit;
  QUIVER_ASSIGN_OR_RETURN(options.warmup, ctx.usage(parse_duration_arg(a.warmup, /*allow_zero=*/true)));
  QUIVER_ASSIGN_OR_RETURN(const auto timeout, ctx.usage(parse_duration_arg(a.timeout)));
  options.request_timeout = std::max(std::chrono::milliseconds(1),
                                     std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  options.max_requests = a.requests;
  options.rate = a.rate;
  options.batch = a.batch;

  QUIVER_ASSIGN_OR_RETURN(std::vector<BenchInputSpec> specs, input_specs(ctx, a));
  std::mt19937_64 rng(kInputSeed);
  std::vector<Tensor> tensors;
  for (const auto& spec : specs) tensors.push_back(random_tensor(spec, rng));
  const bool grpc = a.protocol == "grpc";
  // Only the target of the chosen protocol is filled in.
  LoadTarget http_target;
  GrpcLoadTarget grpc_target;
  if (grpc) {
    QUIVER_ASSIGN_OR_RETURN(grpc_target, grpc_load_target(ctx, a, std::move(tensors)));
    QUIVER_RETURN_IF_ERROR(check_grpc_request(grpc_target, options.request_timeout));
  } else {
    const BenchRequestBody body = encode_bench_request(tensors, a.binary);
    QUIVER_ASSIGN_OR_RETURN(http_target, load_target(ctx, a, body));
    QUIVER_RETURN_IF_ERROR(check_one_request(ctx, http_target, model_path(a) + "/infer"));
  }

  std::vector<LevelResult> results;
  for (int connections : levels) {
    options.connections = connections;
    if (!a.json) {
      std::cerr << fmt::format("running {} connection{}{}...", connections, connections == 1 ? "" : "s",
                               a.rate > 0 ? fmt::format(" at {:g} requests/s", a.rate) : std::string())
                << std::endl;
    }
    QUIVER_ASSIGN_OR_RETURN(LevelResult level,
                            grpc ? run_grpc_load(grpc_target, options) : run_load(http_target, options));
    results.push_back(std::move(level));
  }

  const bool requests_only = a.requests > 0 && !a.duration_given;
  // The report names the server that took the load.
  const BenchRunInfo info{grpc ? grpc_target.address : a.server, a.model, a.version, a.protocol,
                          !grpc && a.binary, a.batch,
                          requests_only ? 0.0 : std::chrono::duration<double>(options.duration).count(),
                          std::chrono::duration<double>(options.warmup).count(), a.requests};
  if (a.json) {
    std::cout << bench_to_json(info, results).dump() << std::endl;
  } else {
    std::cout << render_bench_text(info, results) << std::flush;
  }
  int64_t ok = 0;
  for (const auto& level : results) ok += level.ok;
  if (ok == 0) return unavailable("no request succeeded during the run (see the errors above)");
  return Status::ok();
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure throughput and latency of a model under load");
  cmd->add_option("model", a->model, "Model name")->required();
  cmd->add_option("--version", a->version, "Pin a version (number or alias) instead of routing");
  auto* concurrency = cmd->add_option("--concurrency", a->concurrency,
                                      "Connections kept busy; a comma list sweeps (e.g. 1,4,16)")
                          ->capture_default_str();
  cmd->add_option("--rate", a->rate, "Send at a fixed rate (requests/s) instead of a closed loop");
  auto* duration = cmd->add_option("--duration", a->duration, "Measured time per level (e.g. 10s, 500ms)")
                       ->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "Time per level before measuring (0 for none)")->capture_default_str();
  cmd->add_option("--requests", a->requests, "Stop each level after this many requests");
  cmd->add_option("--timeout", a->timeout, "Longest wait for one answer")->capture_default_str();
  cmd->add_option("--protocol", a->protocol, "http or grpc")->capture_default_str();
  cmd->add_option("--grpc-server", a->grpc_server,
                  "gRPC address HOST:PORT for --protocol grpc (default: $QUIVER_GRPC_SERVER, else the "
                  "--server host, port 8001)");
  cmd->add_flag("--binary", a->binary, "Send and receive tensors with the binary tensor extension (HTTP)");
  cmd->add_option("--batch", a->batch, "Rows per request: the size of the first variable dimension")
      ->capture_default_str();
  cmd->add_option("--input", a->inputs, "Input NAME:DTYPE:DIMS instead of the model's metadata, repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--header", a->headers, "Extra request header name:value, repeatable")
      ->allow_extra_args(false);
  cmd->add_flag("--json", a->json, "Print one JSON object instead of a table");
  add_server_option(*cmd, a->server);
  cmd->callback([a, concurrency, duration] {
    a->concurrency_given = concurrency->count() > 0;
    a->duration_given = duration->count() > 0;
    run_command(a->server, [&](CommandContext& ctx) { return run_bench(ctx, *a); });
  });
}

}  // namespace quiver::cli
