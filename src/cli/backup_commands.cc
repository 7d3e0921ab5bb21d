// `quiver backup -o FILE`: download a consistent online backup (GET /v1/backup) and
// check it completely before calling it done. `quiver restore FILE --data-dir DIR`:
// bring a backup back into a new, empty data directory, offline (no server needed;
// start one on DIR afterwards).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "backup/restore.h"
#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"

namespace quiver::cli {
namespace {

namespace fs = std::filesystem;

struct BackupOptions {
  std::string server;
  std::string output;
};

struct RestoreOptions {
  std::string archive;
  std::string data_dir;
};

std::string summary(const backup::ArchiveReport& report) {
  const auto& m = report.manifest;
  return fmt::format("registry {} + {} blob(s) {}, taken {}", format_bytes(m.registry_size), m.blobs.size(),
                     format_bytes(m.blob_bytes()), m.created_at);
}

Status run_backup(CommandContext& ctx, const BackupOptions& o) {
  const fs::path target = o.output;
  std::error_code ec;
  if (fs::exists(target, ec))
    return ctx.usage(already_exists(fmt::format("'{}' exists; name a new file for the backup", o.output)));
  // Written beside the target and renamed only once checked, so FILE is always whole.
  const fs::path partial = target.string() + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) return ctx.usage(invalid_argument(fmt::format("cannot write '{}'", partial.string())));
    const bool interactive = isatty(STDERR_FILENO) != 0;
    const auto started = ProgressBar::Clock::now();
    std::optional<ProgressBar> bar;  // drawn on a terminal once the size is known
    HttpRequest request;
    request.target = "/v1/backup";
    auto answer = ctx.send_download(request, out, [&](uint64_t done, uint64_t total) {
      if (interactive && !bar) bar.emplace(std::cerr, true, total, started);
      if (bar) bar->update(done, ProgressBar::Clock::now());
    });
    if (!answer.is_ok()) {
      if (bar) bar->abandon();
      out.close();
      fs::remove(partial, ec);
      return answer.status().with_context("backup");
    }
    if (bar) bar->finish(ProgressBar::Clock::now());
    out.flush();
    if (!out) {
      fs::remove(partial, ec);
      return internal_error(fmt::format("writing '{}' failed", partial.string()));
    }
  }
  std::ifstream in(partial, std::ios::binary);
  auto report = backup::verify_archive(in);
  if (!report.is_ok()) {
    fs::remove(partial, ec);
    return report.status().with_context("the downloaded backup does not check out");
  }
  fs::rename(partial, target, ec);
  if (ec)
    return internal_error(fmt::format("cannot rename '{}' to '{}': {}", partial.string(), o.output, ec.message()));
  fmt::print("backup {}: {} (checked: every sha256 matches)\n", o.output, summary(*report));
  return Status::ok();
}

Status run_restore(const RestoreOptions& o) {
  std::ifstream in(o.archive, std::ios::binary);
  if (!in) return not_found(fmt::format("cannot open '{}'", o.archive));
  auto report = backup::restore_archive(in, o.data_dir);
  if (!report.is_ok()) return report.status().with_context("restore");
  fmt::print("restored {} into {}: {}\nstart it with: quiver serve --data-dir {}\n", o.archive, o.data_dir,
             summary(*report), o.data_dir);
  return Status::ok();
}

}  // namespace

void add_backup_command(CLI::App& app) {
  auto o = std::make_shared<BackupOptions>();
  CLI::App* cmd = app.add_subcommand(
      "backup", "Download a consistent online backup of the registry and every blob it names (tar)");
  cmd->add_option("-o,--output", o->output, "File to write (must not exist)")->required();
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_backup(ctx, *o); }); });
}

void add_restore_command(CLI::App& app) {
  auto o = std::make_shared<RestoreOptions>();
  CLI::App* cmd = app.add_subcommand(
      "restore", "Restore a backup into a new, empty data directory (offline; checks every sha256)");
  cmd->add_option("archive", o->archive, "Backup file made by `quiver backup`")->required();
  cmd->add_option("--data-dir", o->data_dir, "Data directory to create (must not exist, or be empty)")->required();
  cmd->callback([o] {
    const Status st = run_restore(*o);
    if (st.is_ok()) return;
    std::cout.flush();
    std::cerr << "error: " << st.message() << std::endl;
    throw CLI::RuntimeError(st.code() == StatusCode::kFailedPrecondition ? kExitUsage : kExitFailure);
  });
}

}  // namespace quiver::cli
