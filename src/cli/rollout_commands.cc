// `quiver rollout status|promote|abort|pause|resume|retry MODEL` and
// `quiver bandit status MODEL`: watching and steering a progressive rollout, and
// reading how a bandit splits traffic between its arms (API.md §4).
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/deployment_views.h"
#include "cli/text_table.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

struct RolloutOptions {
  std::string server;
  std::string model;
  std::string verb;  // empty: status
  bool full = false;
  std::string reason;
  bool json = false;
};

struct BanditOptions {
  std::string server;
  std::string model;
  bool json = false;
};

std::string deployment_path(const std::string& model) {
  return fmt::format("/v1/deployments/{}", encode_path_segment(model));
}

// Four significant digits: analysis quantities range from error rates (0.0012) to
// latency ratios (1.05); an integer prints as it is.
std::string significant_cell(const json* value) {
  if (value == nullptr || !value->is_number()) return "-";
  if (!value->is_number_float()) return value->dump();
  return fmt::format("{:.4g}", value->get<double>());
}

std::string interval_cell(const json* interval) {
  if (interval == nullptr || !interval->is_array() || interval->size() != 2) return "-";
  return fmt::format("[{}, {}]", significant_cell(&(*interval)[0]), significant_cell(&(*interval)[1]));
}

bool flag(const json& object, std::string_view key) {
  const json* value = field(object, key);
  return value != nullptr && value->is_boolean() && value->get<bool>();
}

// The server counts steps from 0; people read "step 1/4" for the first.
std::string step_text(const json& rollout) {
  const json* step = field(rollout, "step");
  const json* steps = field(rollout, "steps");
  if (step == nullptr || !step->is_number_integer()) return "-";
  int64_t shown = step->get<int64_t>() + 1;
  if (steps == nullptr || !steps->is_number_integer()) return std::to_string(shown);
  const int64_t total = steps->get<int64_t>();
  // A finished rollout may stand past its last step.
  if (total > 0) shown = std::min(shown, total);
  return fmt::format("{}/{}", shown, total);
}

std::string metrics_table(const json& rollout) {
  const json* metrics = field(rollout, "metrics");
  if (metrics == nullptr || !metrics->is_array() || metrics->empty()) return "no analysis yet\n";
  std::vector<TableRow> rows;
  for (const auto& m : *metrics) {
    const json* applies = field(m, "applies");
    std::string verdict = cell(field(m, "verdict"));
    if (applies != nullptr && applies->is_boolean() && !applies->get<bool>()) verdict = "n/a";
    if (flag(m, "critical") && verdict == "fail") verdict += " (critical)";
    rows.push_back({cell(field(m, "name")), verdict, cell(field(m, "n")), significant_cell(field(m, "estimate")),
                    interval_cell(field(m, "interval")), significant_cell(field(m, "limit")),
                    cell(field(m, "detail"))});
  }
  return render_table({"METRIC", "VERDICT", "N", "ESTIMATE", "INTERVAL", "LIMIT", "DETAIL"}, rows);
}

std::string render_rollout(const json& rollout) {
  std::string out = fmt::format("model {}  rollout {}  state {}  step {}  revision {}\n",
                                cell(field(rollout, "model")), cell(field(rollout, "id")),
                                cell(field(rollout, "state")), step_text(rollout), cell(field(rollout, "revision")));
  const json* baseline = field(rollout, "baseline");
  const json* candidate = field(rollout, "candidate");
  out += fmt::format("baseline {} -> candidate {}  candidate share {}",
                     baseline != nullptr ? version_text(*baseline) : "-",
                     candidate != nullptr ? version_text(*candidate) : "-",
                     percent_cell(field(rollout, "candidate_share")));
  if (const json* shadow = field(rollout, "shadow_percent");
      shadow != nullptr && shadow->is_number() && shadow->get<double>() > 0) {
    out += fmt::format("  shadow {}%", shadow->dump());
  }
  out += '\n';
  if (const std::string reason = cell(field(rollout, "reason")); reason != "-") {
    out += fmt::format("reason: {}\n", reason);
  }
  const json* errors = field(rollout, "candidate_errors");
  const json* max_errors = field(rollout, "max_candidate_errors");
  if (max_errors != nullptr && max_errors->is_number() && max_errors->get<double>() > 0) {
    out += fmt::format("candidate errors: {} of at most {}\n", cell(errors), max_errors->dump());
  } else if (errors != nullptr && errors->is_number() && errors->get<double>() > 0) {
    out += fmt::format("candidate errors: {}\n", errors->dump());
  }
  if (flag(rollout, "no_data")) out += "no data: the analysis has seen no requests in its window\n";
  if (field(rollout, "started_at") != nullptr) {
    out += fmt::format("started {}  step started {}  updated {}\n", format_timestamp(field(rollout, "started_at")),
                       format_timestamp(field(rollout, "step_started_at")),
                       format_timestamp(field(rollout, "updated_at")));
  }
  out += metrics_table(rollout);
  return out;
}

std::string render_bandit(const json& bandit) {
  std::string out = fmt::format("model {}  bandit policy {}  discount {}\n", cell(field(bandit, "model")),
                                cell(field(bandit, "policy")), significant_cell(field(bandit, "discount")));
  const json* arms = field(bandit, "arms");
  if (arms == nullptr || !arms->is_array() || arms->empty()) return out + "no arms\n";
  std::vector<TableRow> rows;
  for (const auto& arm : *arms) {
    const json* version = field(arm, "version");
    rows.push_back({version != nullptr ? version_text(*version) : "-", percent_cell(field(arm, "share")),
                    cell(field(arm, "rewards")), significant_cell(field(arm, "mean_reward"))});
  }
  return out + render_table({"VERSION", "SHARE", "REWARDS", "MEAN REWARD"}, rows);
}

Status run_rollout(CommandContext& ctx, const RolloutOptions& o) {
  const std::string path = deployment_path(o.model) + "/rollout";
  json answer;
  if (o.verb.empty()) {
    QUIVER_ASSIGN_OR_RETURN(answer, ctx.get(path));
  } else {
    json body = json::object();
    if (!o.reason.empty()) body["reason"] = o.reason;
    if (o.full) body["full"] = true;
    QUIVER_ASSIGN_OR_RETURN(answer, ctx.call("POST", path + "/" + o.verb, body));
  }
  if (o.json) {
    fmt::print("{}\n", answer.dump(2));
  } else {
    fmt::print("{}", render_rollout(answer));
  }
  return Status::ok();
}

Status run_bandit(CommandContext& ctx, const BanditOptions& o) {
  QUIVER_ASSIGN_OR_RETURN(json answer, ctx.get(deployment_path(o.model) + "/bandit"));
  if (o.json) {
    fmt::print("{}\n", answer.dump(2));
  } else {
    fmt::print("{}", render_bandit(answer));
  }
  return Status::ok();
}

void add_rollout_verb(CLI::App& rollout, const std::string& verb, const std::string& help) {
  auto o = std::make_shared<RolloutOptions>();
  o->verb = verb == "status" ? "" : verb;
  CLI::App* cmd = rollout.add_subcommand(verb, help);
  cmd->add_option("model", o->model, "Model name")->required();
  if (verb == "status") {
    cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  } else {
    if (verb == "promote") {
      cmd->add_flag("--full", o->full, "Skip the remaining steps: send all traffic to the candidate now");
    }
    cmd->add_option("--reason", o->reason, "Why, for the audit trail");
    cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  }
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_rollout(ctx, *o); }); });
}

}  // namespace

void add_rollout_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("rollout", "Watch and steer a deployment's progressive rollout");
  cmd->require_subcommand(1);
  add_rollout_verb(*cmd, "status", "Show the rollout's state, step and per-metric verdicts");
  add_rollout_verb(*cmd, "promote", "Move the rollout to its next step (--full: finish it now)");
  add_rollout_verb(*cmd, "abort", "Stop the rollout and send all traffic back to the baseline");
  add_rollout_verb(*cmd, "pause", "Hold the rollout at its current step");
  add_rollout_verb(*cmd, "resume", "Continue a paused rollout");
  add_rollout_verb(*cmd, "retry", "Start an aborted rollout again from its first step");
}

void add_bandit_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("bandit", "Show how a bandit deployment splits traffic between its arms");
  cmd->require_subcommand(1);
  auto o = std::make_shared<BanditOptions>();
  CLI::App* status = cmd->add_subcommand("status", "Show each arm's share, rewards and mean reward");
  status->add_option("model", o->model, "Model name")->required();
  status->add_flag("--json", o->json, "Print the server's JSON answer");
  add_server_option(*status, o->server);
  status->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_bandit(ctx, *o); }); });
}

}  // namespace quiver::cli
