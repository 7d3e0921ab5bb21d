// The quiver binary: `quiver serve` runs the server; every other subcommand is a
// client of its REST API (src/cli).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string_view>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "api/http/quiver_server.h"
#include "backends/backend.h"
#include "backends/process/worker.h"
#include "cli/client_commands.h"

namespace {

int serve(const quiver::http::ServeOptions& options) {
  // Logs go to stderr: stdout carries only the line with the chosen ports.
  spdlog::set_default_logger(spdlog::stderr_color_mt("quiver"));
  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = quiver::http::QuiverServer::start(options);
  if (!server.is_ok()) {
    std::fprintf(stderr, "error: %s\n", server.status().message().c_str());
    return 1;
  }
  // One line with the chosen ports, for scripts and tests that start on port 0.
  std::printf("quiver listening http=%s:%u grpc=%s:%u data_dir=%s\n", options.host.c_str(),
              (*server)->http_port(), options.host.c_str(), (*server)->grpc_port(), options.data_dir.c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received signal {}, draining", sig);
  (*server)->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // `quiver worker --socket-fd N ...`: a model's worker process, started by the server
  // for `isolation: process`. Hidden from the help: only the server runs it.
  if (argc >= 2 && std::string_view(argv[1]) == "worker") {
    return quiver::backends::process::worker_main(argc - 2, argv + 2, quiver::backends::load_backend);
  }
  CLI::App app{"Quiver: a model server that keeps every version and moves traffic between them"};
  app.require_subcommand(1);

  quiver::http::ServeOptions options;
  std::string data_dir = options.data_dir.string();
  auto* serve_cmd = app.add_subcommand("serve", "Run the server");
  serve_cmd->add_option("--host", options.host, "Address to listen on")->capture_default_str();
  serve_cmd->add_option("--http-port", options.http_port, "HTTP port (0 picks a free one)")->capture_default_str();
  serve_cmd->add_option("--grpc-port", options.grpc_port, "gRPC port (0 picks a free one)")->capture_default_str();
  serve_cmd->add_option("--data-dir", data_dir, "Registry and blob store folder")->capture_default_str();
  serve_cmd->add_option("--http-threads", options.http_threads, "I/O threads (0: one per core)");
  serve_cmd->add_option("--max-body-bytes", options.max_body_bytes, "Largest inference body")->capture_default_str();
  serve_cmd->add_option("--intra-op-threads", options.intra_op_threads, "Threads per model instance")
      ->capture_default_str();
  serve_cmd->add_option("--warmup-runs", options.warmup_runs, "Warmup requests per instance before ready")
      ->capture_default_str();
  serve_cmd->add_option("--prediction-log-max-entries", options.prediction_log_max_entries,
                        "Predictions kept for joining feedback by request id")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--prediction-log-max-age-s", options.prediction_log_max_age_s,
                        "Seconds a prediction waits for its feedback")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--objective-interval-ms", options.objective_interval_ms,
                        "How often objectives with auto: promote_best are scored")
      ->capture_default_str();
  int exit_code = 0;
  serve_cmd->callback([&] {
    options.data_dir = data_dir;
    exit_code = serve(options);
  });

  quiver::cli::register_client_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
