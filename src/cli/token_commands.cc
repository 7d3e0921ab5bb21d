// `quiver token create | list | revoke` and `quiver audit verify | list`: access
// tokens and the tamper-evident audit log (API.md §5). Both need an admin token.
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/text_table.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

struct TokenCreateOptions {
  std::string server;
  std::string role;
  std::vector<std::string> models;
  std::string expires_in;
  std::string description;
  bool quiet = false;
  bool json = false;
};

struct TokenListOptions {
  std::string server;
  bool json = false;
};

struct TokenRevokeOptions {
  std::string server;
  std::string id;
};

struct AuditVerifyOptions {
  std::string server;
  bool json = false;
};

struct AuditListOptions {
  std::string server;
  std::string model;
  std::string kind = "all";
  int64_t limit = 50;
  bool json = false;
};

std::string models_text(const json* models) {
  if (models == nullptr || !models->is_array()) return "-";
  std::string out;
  for (const auto& m : *models) {
    if (!out.empty()) out += ",";
    out += m.is_string() ? m.get<std::string>() : m.dump();
  }
  return out.empty() ? "-" : out;
}

Status run_token_create(CommandContext& ctx, const TokenCreateOptions& o) {
  json body = {{"role", o.role}};
  if (!o.models.empty()) body["models"] = o.models;
  if (!o.expires_in.empty()) body["expires_in"] = o.expires_in;
  if (!o.description.empty()) body["description"] = o.description;
  QUIVER_ASSIGN_OR_RETURN(json created, ctx.call("POST", "/v1/tokens", body));
  QUIVER_ASSIGN_OR_RETURN(std::string token, required_text(created, "token"));
  if (o.json) {
    fmt::print("{}\n", created.dump(2));
  } else if (o.quiet) {
    fmt::print("{}\n", token);
  } else {
    fmt::print("{}\n", token);
    std::cerr << fmt::format(
        "created token {} (role {}, models {}, expires {}).\nStore it now: the server keeps only a hash and will "
        "not show it again. Use it with --token or QUIVER_TOKEN.\n",
        cell(field(created, "id")), cell(field(created, "role")), models_text(field(created, "models")),
        cell(field(created, "expires_at")) == "-" ? "never" : cell(field(created, "expires_at")));
  }
  return Status::ok();
}

Status run_token_list(CommandContext& ctx, const TokenListOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(json keys, ctx.get("/v1/tokens"));
  if (o.json) {
    fmt::print("{}\n", keys.dump(2));
    return Status::ok();
  }
  std::vector<TableRow> rows;
  if (keys.is_array()) {
    for (const auto& k : keys) {
      rows.push_back({cell(field(k, "id")), cell(field(k, "role")), models_text(field(k, "models")),
                      cell(field(k, "state")), cell(field(k, "expires_at")), cell(field(k, "last_used")),
                      cell(field(k, "description"))});
    }
  }
  fmt::print("{}", render_table({"ID", "ROLE", "MODELS", "STATE", "EXPIRES", "LAST USED", "DESCRIPTION"}, rows));
  return Status::ok();
}

Status run_token_revoke(CommandContext& ctx, const TokenRevokeOptions& o) {
  // A whole token pasted by mistake: revoke its key without sending the secret anywhere.
  std::string id = o.id;
  if (id.starts_with("qv_")) {
    id.erase(0, 3);
    id = id.substr(0, id.find('_'));
  }
  QUIVER_ASSIGN_OR_RETURN(json revoked, ctx.call("DELETE", "/v1/tokens/" + encode_path_segment(id)));
  fmt::print("revoked token {} (role {}) at {}\n", id, cell(field(revoked, "role")),
             cell(field(revoked, "revoked_at")));
  return Status::ok();
}

Status run_audit_verify(CommandContext& ctx, const AuditVerifyOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(json result, ctx.get("/v1/audit/verify"));
  const json* ok = field(result, "ok");
  const bool intact = ok != nullptr && ok->is_boolean() && ok->get<bool>();
  if (o.json) {
    fmt::print("{}\n", result.dump(2));
  } else if (intact) {
    fmt::print("audit log intact: {} records, head {}\n", cell(field(result, "records")), cell(field(result, "head")));
  }
  if (intact) return Status::ok();
  return data_loss(fmt::format("audit log broken at record {}: {} ({} records verified before it)",
                               cell(field(result, "first_broken")), cell(field(result, "problem")),
                               cell(field(result, "records"))));
}

Status run_audit_list(CommandContext& ctx, const AuditListOptions& o) {
  std::string target = fmt::format("/v1/audit?kind={}&limit={}", encode_path_segment(o.kind), o.limit);
  if (!o.model.empty()) target += "&model=" + encode_path_segment(o.model);
  QUIVER_ASSIGN_OR_RETURN(json entries, ctx.get(target));
  if (o.json) {
    fmt::print("{}\n", entries.dump(2));
    return Status::ok();
  }
  std::vector<TableRow> rows;
  if (entries.is_array()) {
    for (const auto& e : entries) {
      const bool access = cell(field(e, "kind")) == "access";
      std::string who = access ? cell(field(e, "actor_key")) : cell(field(e, "client"));
      if (access && cell(field(e, "actor_role")) != "-" && !cell(field(e, "actor_role")).empty())
        who += " (" + cell(field(e, "actor_role")) + ")";
      rows.push_back({cell(field(e, "id")), cell(field(e, "at")), cell(field(e, "kind")), cell(field(e, "action")),
                      access ? cell(field(e, "resource")) : cell(field(e, "model")), who,
                      access ? cell(field(e, "decision")) + " " + cell(field(e, "status")) : "-",
                      cell(field(e, "reason"))});
    }
  }
  fmt::print("{}", render_table({"ID", "AT", "KIND", "ACTION", "RESOURCE", "WHO", "DECISION", "REASON"}, rows));
  return Status::ok();
}

}  // namespace

void add_token_command(CLI::App& app) {
  CLI::App* token = app.add_subcommand("token", "Create, list and revoke access tokens (needs an admin token)");
  token->require_subcommand(1);

  auto c = std::make_shared<TokenCreateOptions>();
  CLI::App* create = token->add_subcommand("create", "Create a token; its secret is printed once");
  create->add_option("--role", c->role, "admin, deployer, publisher, reader or infer")->required();
  create->add_option("--models", c->models, "Model-name globs the token may use (default: all), repeatable")
      ->delimiter(',');
  create->add_option("--expires-in", c->expires_in, "Lifetime, e.g. 90d, 12h, 30m (default: never expires)");
  create->add_option("--description", c->description, "What the token is for");
  create->add_flag("--quiet,-q", c->quiet, "Print only the token");
  create->add_flag("--json", c->json, "Print the server's JSON answer (it holds the token)");
  add_server_option(*create, c->server);
  create->callback([c] { run_command(c->server, [&](CommandContext& ctx) { return run_token_create(ctx, *c); }); });

  auto l = std::make_shared<TokenListOptions>();
  CLI::App* list = token->add_subcommand("list", "List tokens (never their secrets)");
  list->add_flag("--json", l->json, "Print the server's JSON answer");
  add_server_option(*list, l->server);
  list->callback([l] { run_command(l->server, [&](CommandContext& ctx) { return run_token_list(ctx, *l); }); });

  auto r = std::make_shared<TokenRevokeOptions>();
  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a token; it stops working within a second");
  revoke->add_option("id", r->id, "The token's key id (the part after qv_, as `quiver token list` shows it)")
      ->required();
  add_server_option(*revoke, r->server);
  revoke->callback([r] { run_command(r->server, [&](CommandContext& ctx) { return run_token_revoke(ctx, *r); }); });
}

void add_audit_command(CLI::App& app) {
  CLI::App* audit = app.add_subcommand("audit", "The tamper-evident audit log (needs an admin token)");
  audit->require_subcommand(1);

  auto v = std::make_shared<AuditVerifyOptions>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check the audit log's hash chain; exits 1 naming the first broken record");
  verify->add_flag("--json", v->json, "Print the server's JSON answer");
  add_server_option(*verify, v->server);
  verify->callback([v] { run_command(v->server, [&](CommandContext& ctx) { return run_audit_verify(ctx, *v); }); });

  auto l = std::make_shared<AuditListOptions>();
  CLI::App* list = audit->add_subcommand("list", "Show audit records, newest first");
  list->add_option("--model", l->model, "Only records about this model");
  list->add_option("--kind", l->kind, "change, access or all")->capture_default_str();
  list->add_option("--limit", l->limit, "At most this many records")->capture_default_str();
  list->add_flag("--json", l->json, "Print the server's JSON answer");
  add_server_option(*list, l->server);
  list->callback([l] { run_command(l->server, [&](CommandContext& ctx) { return run_audit_list(ctx, *l); }); });
}

}  // namespace quiver::cli
