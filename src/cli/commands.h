// Registration of each group of client subcommands (see client_commands.h).
// Internal to the cli module. Thread-safety: call while building the command line,
// before parsing; each adds one subcommand whose options live as long as `app`.
#pragma once

#include <CLI/CLI.hpp>

namespace quiver::cli {

void add_push_command(CLI::App& app);      // push_command.cc
void add_models_command(CLI::App& app);    // registry_commands.cc
void add_alias_command(CLI::App& app);     // registry_commands.cc
void add_apply_command(CLI::App& app);     // deployment_commands.cc
void add_status_command(CLI::App& app);    // deployment_commands.cc
void add_history_command(CLI::App& app);   // deployment_commands.cc
void add_rollback_command(CLI::App& app);  // deployment_commands.cc
void add_infer_command(CLI::App& app);     // infer_command.cc
void add_bench_command(CLI::App& app);     // bench_command.cc
void add_rollout_command(CLI::App& app);   // rollout_commands.cc
void add_bandit_command(CLI::App& app);    // rollout_commands.cc
void add_eval_command(CLI::App& app);      // evidence_commands.cc
void add_compare_command(CLI::App& app);   // evidence_commands.cc
void add_feedback_command(CLI::App& app);  // evidence_commands.cc
void add_backup_command(CLI::App& app);    // backup_commands.cc
void add_restore_command(CLI::App& app);   // backup_commands.cc
void add_policy_command(CLI::App& app);    // registry_commands.cc
void add_token_command(CLI::App& app);     // token_commands.cc
void add_audit_command(CLI::App& app);     // token_commands.cc

}  // namespace quiver::cli
