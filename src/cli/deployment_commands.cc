// `quiver apply`, `quiver status`, `quiver history`, `quiver rollback`: what is
// deployed, how traffic flows, and going back to an earlier revision.
#include <iostream>
#include <iterator>
#include <memory>

#include <fmt/format.h>

#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/deployment_views.h"
#include "cli/spec_diff.h"
#include "cli/spec_yaml.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

struct ApplyOptions {
  std::string server;
  std::string file;
  std::string model;
  bool dry_run = false;
  std::string reason;
};

struct StatusOptions {
  std::string server;
  std::string model;
  bool json = false;
};

struct RollbackOptions {
  std::string server;
  std::string model;
  int revision = 0;  // 0: the previous revision
  std::string reason;
};

std::string deployment_path(const std::string& model) {
  return fmt::format("/v1/deployments/{}", encode_path_segment(model));
}

// The audit trail records why a change was made; a header cannot span lines.
Result<Headers> reason_headers(const std::string& reason) {
  Headers headers;
  if (reason.empty()) return headers;
  if (reason.find_first_of("\r\n") != std::string::npos) {
    return invalid_argument("--reason must be one line");
  }
  headers.emplace("x-quiver-reason", reason);
  return headers;
}

Result<std::string> read_spec_text(const std::string& file) {
  if (file != "-") return read_file(file);
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

Status run_apply(CommandContext& ctx, const ApplyOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(std::string text, ctx.usage(read_spec_text(o.file)));
  const std::string source = o.file == "-" ? "stdin" : o.file;
  QUIVER_ASSIGN_OR_RETURN(json document, ctx.usage(yaml_to_json(text, source)));
  QUIVER_ASSIGN_OR_RETURN(DeploymentDocument doc,
                          ctx.usage(split_deployment_document(std::move(document), o.model)));
  QUIVER_ASSIGN_OR_RETURN(Headers headers, ctx.usage(reason_headers(o.reason)));

  std::string target = deployment_path(doc.model);
  if (o.dry_run) target += "?dry_run=true";
  QUIVER_ASSIGN_OR_RETURN(json answer, ctx.call("PUT", target, doc.spec, std::move(headers)));

  if (o.dry_run) {
    const json* current = answer.is_object() && answer.contains("current") ? &answer["current"] : nullptr;
    const json* proposed = answer.is_object() && answer.contains("proposed") ? &answer["proposed"] : nullptr;
    fmt::print("{}", render_dry_run(doc.model, current != nullptr ? *current : json(nullptr),
                                    proposed != nullptr ? *proposed : doc.spec));
    return Status::ok();
  }
  QUIVER_ASSIGN_OR_RETURN(std::string revision, required_text(answer, "revision"));
  fmt::print("applied {} revision {}\n", doc.model, revision);
  return Status::ok();
}

Status run_status(CommandContext& ctx, const StatusOptions& o) {
  const bool one = !o.model.empty();
  QUIVER_ASSIGN_OR_RETURN(json answer, ctx.get(one ? deployment_path(o.model) : "/v1/deployments"));
  if (o.json) {
    fmt::print("{}\n", answer.dump(2));
  } else {
    fmt::print("{}", one ? render_deployment_status(answer) : render_deployment_list(answer));
    // Replicas: every one, live or not, and whether it has converged.
    if (!one) {
      if (auto cluster = ctx.get("/v1/cluster"); cluster.is_ok()) fmt::print("{}", render_cluster(*cluster));
    }
  }
  return Status::ok();
}

Status run_history(CommandContext& ctx, const StatusOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(json answer, ctx.get(deployment_path(o.model) + "/history"));
  if (o.json) {
    fmt::print("{}\n", answer.dump(2));
  } else {
    fmt::print("{}", render_history(answer));
  }
  return Status::ok();
}

Status run_rollback(CommandContext& ctx, const RollbackOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(Headers headers, ctx.usage(reason_headers(o.reason)));
  json body = json::object();
  if (o.revision > 0) body["revision"] = o.revision;
  QUIVER_ASSIGN_OR_RETURN(json answer,
                          ctx.call("POST", deployment_path(o.model) + "/rollback", body, std::move(headers)));
  QUIVER_ASSIGN_OR_RETURN(std::string revision, required_text(answer, "revision"));
  const auto restored = required_text(answer, "restored_revision");
  if (restored.is_ok()) {
    fmt::print("rolled back {} to revision {} (new revision {})\n", o.model, *restored, revision);
  } else {
    fmt::print("rolled back {} (new revision {})\n", o.model, revision);
  }
  return Status::ok();
}

}  // namespace

void add_apply_command(CLI::App& app) {
  auto o = std::make_shared<ApplyOptions>();
  CLI::App* cmd = app.add_subcommand("apply", "Create or change a model's deployment from a YAML or JSON spec");
  cmd->add_option("-f,--file", o->file, "Spec file (YAML or JSON; - reads stdin)")->required();
  cmd->add_option("--model,-m", o->model, "Model name, when the spec has no 'model:' key");
  cmd->add_flag("--dry-run", o->dry_run, "Show what would change without changing anything");
  cmd->add_option("--reason", o->reason, "Why, for the deployment history");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_apply(ctx, *o); }); });
}

void add_status_command(CLI::App& app) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "Show a deployment's versions, traffic and health (or list all)");
  cmd->add_option("model", o->model, "Model name (default: list every deployment)");
  cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_status(ctx, *o); }); });
}

void add_history_command(CLI::App& app) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("history", "List a deployment's revisions, newest first");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_history(ctx, *o); }); });
}

void add_rollback_command(CLI::App& app) {
  auto o = std::make_shared<RollbackOptions>();
  CLI::App* cmd = app.add_subcommand("rollback", "Restore an earlier revision of a deployment");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_option("--to", o->revision, "Revision to restore (default: the previous one)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--reason", o->reason, "Why, for the deployment history");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_rollback(ctx, *o); }); });
}

}  // namespace quiver::cli
