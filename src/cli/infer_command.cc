// `quiver infer MODEL ...`: one Open Inference Protocol request, routed by the
// model's deployment or pinned to a version with --version.
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/tensor_args.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

struct InferOptions {
  std::string server;
  std::string model;
  std::string version;
  std::string data;
  std::string file;
  std::vector<std::string> inputs;
  std::vector<std::string> headers;
};

Result<json> request_body(const InferOptions& o) {
  const int sources = (o.data.empty() ? 0 : 1) + (o.file.empty() ? 0 : 1) + (o.inputs.empty() ? 0 : 1);
  if (sources != 1) {
    return invalid_argument(
        "give the request one way: --data JSON, --file FILE.json, or one or more --input NAME:DTYPE:DIMS=values");
  }
  json body;
  if (!o.data.empty()) {
    QUIVER_ASSIGN_OR_RETURN(body, parse_json(o.data, "--data"));
  } else if (!o.file.empty()) {
    QUIVER_ASSIGN_OR_RETURN(std::string text, read_file(o.file));
    QUIVER_ASSIGN_OR_RETURN(body, parse_json(text, fmt::format("'{}'", o.file)));
  } else {
    body = json{{"inputs", json::array()}};
    for (const auto& arg : o.inputs) {
      QUIVER_ASSIGN_OR_RETURN(json input, parse_tensor_value_arg(arg));
      body["inputs"].push_back(std::move(input));
    }
  }
  if (!body.is_object()) {
    return invalid_argument(fmt::format("an inference request must be a JSON object with \"inputs\", not {}",
                                        body.type_name()));
  }
  return body;
}

Status run_infer(CommandContext& ctx, const InferOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(json body, ctx.usage(request_body(o)));
  HttpRequest request;
  request.method = "POST";
  request.target = o.version.empty()
                       ? fmt::format("/v2/models/{}/infer", encode_path_segment(o.model))
                       : fmt::format("/v2/models/{}/versions/{}/infer", encode_path_segment(o.model),
                                     encode_path_segment(o.version));
  for (const auto& arg : o.headers) {
    QUIVER_ASSIGN_OR_RETURN(auto header, ctx.usage(parse_header_arg(arg)));
    request.headers[header.first] = header.second;
  }
  request.headers["content-type"] = "application/json";
  request.body = body.dump();

  QUIVER_ASSIGN_OR_RETURN(HttpResponse response, ctx.send(std::move(request)));
  const auto parsed = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  // A non-JSON answer (a binary-tensor body, say) is still worth showing as is.
  fmt::print("{}\n", parsed.is_discarded() ? response.body : parsed.dump(2));
  std::fflush(stdout);
  if (const auto it = response.headers.find("x-quiver-model-version"); it != response.headers.end()) {
    std::cerr << "served by version " << it->second << std::endl;
  }
  return Status::ok();
}

}  // namespace

void add_infer_command(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  CLI::App* cmd = app.add_subcommand("infer", "Send one inference request and print the answer");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_option("--version", o->version, "Pin a version (number or alias) instead of routing");
  cmd->add_option("--data", o->data, "The request as JSON text");
  cmd->add_option("--file", o->file, "The request as a JSON file");
  cmd->add_option("--input", o->inputs, "Input NAME:DTYPE:DIMS=v1,v2,... (e.g. x:FP32:1,2=0.5,1), repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--header", o->headers, "Extra request header name:value (e.g. x-user-id:42), repeatable")
      ->allow_extra_args(false);
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_infer(ctx, *o); }); });
}

}  // namespace quiver::cli
