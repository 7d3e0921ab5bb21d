// `quiver models` and `quiver alias`: reading the registry and naming versions.
#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/deployment_views.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

struct ModelsOptions {
  std::string server;
  bool json = false;
};

struct PolicyOptions {
  std::string server;
  std::string model;
  std::string require_signature;  // "on" | "off"; empty: only show
};

struct AliasOptions {
  std::string server;
  std::string model;
  std::string alias;
  std::string version;
  bool remove = false;
};

// "3" is sent as the number 3; anything else ("canary") as the name of an alias.
json version_value(const std::string& text) {
  const bool digits = !text.empty() && text.size() < 19 &&
                      std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
  if (digits) return std::stoll(text);
  return text;
}

// Every registered model, a page at a time, so a registry of a hundred thousand
// models never needs one giant response.
Result<json> all_models(CommandContext& ctx) {
  json models = json::array();
  std::string token;
  for (;;) {
    std::string target = "/v1/models?limit=1000";
    if (!token.empty()) target += "&page_token=" + token;  // hex: safe in a query as is
    QUIVER_ASSIGN_OR_RETURN(json page, ctx.get(target));
    if (page.is_array()) return page;  // a server from before pagination answers everything at once
    for (auto& m : page.value("models", json::array())) models.push_back(std::move(m));
    token = page.value("next_page_token", std::string());
    if (token.empty()) return models;
  }
}

Status run_models(CommandContext& ctx, const ModelsOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(json models, all_models(ctx));
  if (o.json) {
    fmt::print("{}\n", models.dump(2));
  } else {
    fmt::print("{}", render_models(models));
  }
  return Status::ok();
}

Status run_policy(CommandContext& ctx, const PolicyOptions& o) {
  const std::string target = fmt::format("/v1/models/{}/policy", encode_path_segment(o.model));
  json policy;
  if (o.require_signature.empty()) {
    QUIVER_ASSIGN_OR_RETURN(policy, ctx.get(target));
  } else {
    QUIVER_ASSIGN_OR_RETURN(policy, ctx.call("PUT", target, json{{"require_signature", o.require_signature == "on"}}));
  }
  const bool model_wants = policy.value("require_signature", false);
  const bool global = policy.value("global_require_signature", false);
  std::string why;
  if (model_wants && global) why = " (model policy, and the server runs with --require-signature)";
  else if (model_wants) why = " (model policy)";
  else if (global) why = " (the server runs with --require-signature)";
  fmt::print("model {}: signed artifacts {}{}\n", o.model, model_wants || global ? "required" : "not required", why);
  return Status::ok();
}

Status run_alias(CommandContext& ctx, const AliasOptions& o) {
  const std::string target = fmt::format("/v1/models/{}/aliases/{}", encode_path_segment(o.model),
                                         encode_path_segment(o.alias));
  if (o.remove) {
    if (!o.version.empty()) {
      return ctx.usage(invalid_argument("give either a VERSION to point the alias at, or --delete, not both"));
    }
    QUIVER_RETURN_IF_ERROR(ctx.call("DELETE", target).status());
    fmt::print("deleted alias {}:{}\n", o.model, o.alias);
    return Status::ok();
  }
  if (o.version.empty()) {
    return ctx.usage(invalid_argument(fmt::format(
        "say which version alias '{}' should point at (quiver alias {} {} VERSION), or pass --delete",
        o.alias, o.model, o.alias)));
  }
  QUIVER_RETURN_IF_ERROR(ctx.call("PUT", target, json{{"version", version_value(o.version)}}).status());
  fmt::print("alias {}:{} -> version {}\n", o.model, o.alias, o.version);
  return Status::ok();
}

}  // namespace

void add_models_command(CLI::App& app) {
  auto o = std::make_shared<ModelsOptions>();
  CLI::App* cmd = app.add_subcommand("models", "List registered models, their versions and aliases");
  cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_models(ctx, *o); }); });
}

void add_policy_command(CLI::App& app) {
  auto o = std::make_shared<PolicyOptions>();
  CLI::App* cmd = app.add_subcommand("policy", "Show or set a model's policy (signed artifacts required or not)");
  cmd->add_option("model", o->model, "Model name (it need not be registered yet)")->required();
  cmd->add_option("--require-signature", o->require_signature,
                  "on: accept and load only versions signed by a trusted key; off: signatures optional")
      ->check(CLI::IsMember({"on", "off"}));
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_policy(ctx, *o); }); });
}

void add_alias_command(CLI::App& app) {
  auto o = std::make_shared<AliasOptions>();
  CLI::App* cmd = app.add_subcommand("alias", "Point an alias (e.g. prod) at a version, or delete it");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_option("alias", o->alias, "Alias name")->required();
  cmd->add_option("version", o->version, "Version the alias should name");
  cmd->add_flag("--delete", o->remove, "Delete the alias instead");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_alias(ctx, *o); }); });
}

}  // namespace quiver::cli
