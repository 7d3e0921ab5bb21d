#include "cli/client_commands.h"

#include "cli/commands.h"

namespace quiver::cli {

void register_client_commands(CLI::App& app) {
  add_push_command(app);
  add_models_command(app);
  add_alias_command(app);
  add_apply_command(app);
  add_status_command(app);
  add_history_command(app);
  add_rollback_command(app);
  add_infer_command(app);
  add_bench_command(app);
  add_rollout_command(app);
  add_bandit_command(app);
  add_eval_command(app);
  add_compare_command(app);
  add_feedback_command(app);
  add_backup_command(app);
  add_restore_command(app);
  add_policy_command(app);
  add_token_command(app);
  add_audit_command(app);
}

}  // namespace quiver::cli
