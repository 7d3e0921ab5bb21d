// `quiver push FILE --model M ...`: upload an artifact as a blob, register it as a
// new version of M, and optionally point an alias at that version.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "auth/signature.h"
#include "cli/blob_upload.h"
#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/http_client.h"
#include "cli/progress_bar.h"
#include "cli/tensor_args.h"
#include "store/sha256.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

struct PushOptions {
  std::string server;
  std::string file;
  std::string model;
  std::string framework;
  int version = 0;  // 0: the server assigns the next one
  std::string description;
  std::vector<std::string> metadata;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string warmup;
  std::string alias;
  std::string sign_key;        // --sign: a PEM private key (EC P-256)
  std::string signature_file;  // --signature: a signature made elsewhere (DER or base64)
};

Result<std::string> framework_for(const std::string& path, const std::string& flag) {
  if (!flag.empty()) return flag;
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".pt" || ext == ".pth" || ext == ".ts") return std::string("torchscript");
  if (ext == ".onnx") return std::string("onnx");
  return invalid_argument(fmt::format(
      "cannot tell the framework of '{}' from its extension; pass --framework torchscript or onnx", path));
}

Result<json> tensor_specs(const std::vector<std::string>& args) {
  json specs = json::array();
  for (const auto& arg : args) {
    QUIVER_ASSIGN_OR_RETURN(json spec, parse_tensor_spec_arg(arg));
    specs.push_back(std::move(spec));
  }
  return specs;
}

// The POST /v1/models/M/versions body, without the artifact (known after upload).
// Built before uploading so that a typo costs no transfer.
Result<json> version_request(const PushOptions& o) {
  json body = json::object();
  QUIVER_ASSIGN_OR_RETURN(std::string framework, framework_for(o.file, o.framework));
  body["framework"] = framework;
  if (o.version > 0) body["version"] = o.version;
  if (!o.description.empty()) body["description"] = o.description;
  if (!o.metadata.empty()) {
    json metadata = json::object();
    for (const auto& arg : o.metadata) {
      QUIVER_ASSIGN_OR_RETURN(auto kv, parse_key_value_arg(arg));
      metadata[kv.first] = kv.second;
    }
    body["metadata"] = std::move(metadata);
  }
  if (!o.inputs.empty()) {
    QUIVER_ASSIGN_OR_RETURN(body["inputs"], tensor_specs(o.inputs));
  }
  if (!o.outputs.empty()) {
    QUIVER_ASSIGN_OR_RETURN(body["outputs"], tensor_specs(o.outputs));
  }
  if (!o.warmup.empty()) {
    QUIVER_ASSIGN_OR_RETURN(std::string text, read_file(o.warmup));
    QUIVER_ASSIGN_OR_RETURN(body["warmup"], parse_json(text, fmt::format("warmup file '{}'", o.warmup)));
  }
  return body;
}

// Adds "signature" (and, when we signed, "signed_by") to the version request. The
// signature covers the local file's sha256, which must then be what the server stored.
Result<std::string> add_signature(CommandContext& ctx, const PushOptions& o, json& body) {
  if (o.sign_key.empty() && o.signature_file.empty()) return std::string();
  if (!o.sign_key.empty() && !o.signature_file.empty())
    return ctx.usage(invalid_argument("give --sign KEY or --signature FILE, not both"));
  QUIVER_ASSIGN_OR_RETURN(std::string sha256, ctx.usage(store::sha256_file_hex(o.file)));
  if (!o.sign_key.empty()) {
    QUIVER_ASSIGN_OR_RETURN(std::string pem, ctx.usage(read_file(o.sign_key)));
    auto signature = auth::sign_artifact_digest(pem, sha256);
    if (!signature.is_ok())
      return ctx.usage(Status(signature.status().code(), fmt::format("--sign {}: {}", o.sign_key,
                                                                     signature.status().message())));
    body["signature"] = signature->base64;
    body["signed_by"] = signature->key_id;
  } else {
    QUIVER_ASSIGN_OR_RETURN(std::string contents, ctx.usage(read_file(o.signature_file)));
    auto signature = auth::signature_file_to_base64(contents);
    if (!signature.is_ok())
      return ctx.usage(Status(signature.status().code(), fmt::format("--signature {}: {}", o.signature_file,
                                                                     signature.status().message())));
    body["signature"] = *signature;
  }
  return sha256;
}

Status set_alias(CommandContext& ctx, const std::string& model, const std::string& alias,
                 const json& version) {
  const auto answer = ctx.call("PUT",
                               fmt::format("/v1/models/{}/aliases/{}", encode_path_segment(model),
                                           encode_path_segment(alias)),
                               json{{"version", version}});
  return answer.status();
}

Status run_push(CommandContext& ctx, const PushOptions& o) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.file, ec)) {
    return ctx.usage(not_found(fmt::format("'{}' is not a file", o.file)));
  }
  const uint64_t size = std::filesystem::file_size(o.file, ec);
  if (ec) return ctx.usage(internal_error(fmt::format("cannot read '{}': {}", o.file, ec.message())));
  QUIVER_ASSIGN_OR_RETURN(json body, ctx.usage(version_request(o)));
  QUIVER_ASSIGN_OR_RETURN(std::string signed_sha256, add_signature(ctx, o, body));

  QUIVER_ASSIGN_OR_RETURN(UploadedBlob blob, upload_blob(ctx, o.file, size));
  if (!signed_sha256.empty() && blob.sha256 != signed_sha256) {
    return data_loss(fmt::format("'{}' changed while it was uploaded (signed sha256 {}, uploaded {}); push again",
                                 o.file, signed_sha256, blob.sha256));
  }
  body["artifact"] = blob.sha256;
  QUIVER_ASSIGN_OR_RETURN(
      json record,
      ctx.call("POST", fmt::format("/v1/models/{}/versions", encode_path_segment(o.model)), body));
  const json* version = record.is_object() && record.contains("version") ? &record["version"] : nullptr;
  if (version == nullptr) {
    return internal_error(fmt::format("the server registered the version but its answer names none: {}",
                                      record.dump()));
  }
  const std::string version_name = version->is_string() ? version->get<std::string>() : version->dump();
  const std::string signer = record.contains("signed_by") && record["signed_by"].is_string()
                                 ? fmt::format(", signed by {}", record["signed_by"].get<std::string>())
                                 : std::string();
  fmt::print("pushed {} version {} (sha256 {}\u2026, {}{})\n", o.model, version_name,
             blob.sha256.substr(0, 8), format_bytes(blob.size), signer);
  std::fflush(stdout);

  if (!o.alias.empty()) {
    const Status aliased = set_alias(ctx, o.model, o.alias, *version);
    if (!aliased.is_ok()) {
      return aliased.with_context(fmt::format("version {} was pushed, but setting alias '{}'", version_name,
                                              o.alias));
    }
    fmt::print("alias {}:{} -> version {}\n", o.model, o.alias, version_name);
  }
  return Status::ok();
}

}  // namespace

void add_push_command(CLI::App& app) {
  auto o = std::make_shared<PushOptions>();
  CLI::App* cmd = app.add_subcommand("push", "Upload a model file and register it as a new version");
  cmd->add_option("file", o->file, "TorchScript (.pt/.pth/.ts) or ONNX (.onnx) file")->required();
  cmd->add_option("--model,-m", o->model, "Model name")->required();
  cmd->add_option("--framework", o->framework, "torchscript or onnx (default: from the file extension)")
      ->check(CLI::IsMember({"torchscript", "onnx"}));
  cmd->add_option("--version", o->version, "Version number (default: the next one)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--description", o->description, "Free text shown with the version");
  cmd->add_option("--metadata", o->metadata, "key=value, repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--input", o->inputs, "Input tensor NAME:DTYPE:DIMS (e.g. x:FP32:-1,4), repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--output", o->outputs, "Output tensor NAME:DTYPE:DIMS, repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--warmup", o->warmup, "JSON inference request run before the version takes traffic");
  cmd->add_option("--alias", o->alias, "Point this alias at the new version");
  cmd->add_option("--sign", o->sign_key,
                  "Sign the artifact's sha256 with this EC P-256 private key (PEM), as `openssl dgst -sha256 -sign` "
                  "does; the server must trust its public key (--trusted-keys)");
  cmd->add_option("--signature", o->signature_file,
                  "Attach a signature made elsewhere: the DER file of `openssl dgst -sha256 -sign KEY -out FILE`, "
                  "or its base64 (cosign sign-blob)");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_push(ctx, *o); }); });
}

}  // namespace quiver::cli
