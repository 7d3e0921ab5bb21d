// The quiver binary: `quiver serve` runs the server; every other subcommand is a
// client of its REST API (src/cli).
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <string_view>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "server/quiver_server.h"
#include "api/common/log_setup.h"
#include "backends/backend.h"
#include "backends/process/worker.h"
#include "registry/serving_options_json.h"
#include "cli/client_commands.h"

namespace {

int serve(const quiver::api::ServeOptions& options) {
  // Logs go to stderr: stdout carries only the line with the chosen ports (and the
  // access log, when it is "-").
  if (quiver::Status logging = quiver::api::configure_logging(options.log_level, options.log_format);
      !logging.is_ok()) {
    std::fprintf(stderr, "error: %s\n", logging.message().c_str());
    return 1;
  }
  // Block the signals in every thread; the main thread waits for them below:
  // SIGINT and SIGTERM stop, SIGHUP reloads the TLS certificates and the trusted keys.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = quiver::server::QuiverServer::start(options);
  if (!server.is_ok()) {
    std::fprintf(stderr, "error: %s\n", server.status().message().c_str());
    return 1;
  }
  // One line with the chosen ports, for scripts and tests that start on port 0.
  std::string management;
  if ((*server)->management_port() != 0) {
    management = " management=" + options.management_host + ":" + std::to_string((*server)->management_port());
  }
  std::printf("quiver listening http=%s:%u grpc=%s:%u%s tls=%s data_dir=%s\n", options.host.c_str(),
              (*server)->http_port(), options.host.c_str(), (*server)->grpc_port(), management.c_str(),
              options.tls.enabled() ? "on" : "off", options.data_dir.c_str());
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    spdlog::info("received SIGHUP, reloading the TLS certificates and the trusted signing keys");
    if (quiver::Status reloaded = (*server)->reload_tls(); !reloaded.is_ok()) {
      spdlog::error("TLS reload failed, serving on with the previous certificates: {}", reloaded.message());
    }
    if (quiver::Status reloaded = (*server)->reload_trusted_keys(); !reloaded.is_ok()) {
      spdlog::error("trusted key reload failed, keeping the previous keys: {}", reloaded.message());
    }
  }
  spdlog::info("received signal {}, draining", sig);
  (*server)->stop();
  return 0;
}

// The limits of docs/security.md ("Limits"); every one has a safe default.
void add_limit_options(CLI::App& cmd, quiver::api::ServeOptions& o) {
  cmd.add_option("--max-upload-bytes", o.max_upload_bytes, "Largest streamed upload, e.g. POST /v1/blobs (413)")
      ->capture_default_str();
  cmd.add_option("--max-header-bytes", o.max_header_bytes, "Request line and header fields together (431)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-header-fields", o.max_header_fields, "Header fields in one request (431)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-url-bytes", o.max_url_bytes, "Length of the request target (414)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-json-depth", o.max_json_depth, "Nesting of a JSON request body (400)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-small-chunks", o.max_small_chunks, "Chunks under 1 KiB in one chunked body (400)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-connections", o.max_connections, "Open HTTP connections per listener; beyond: 503")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--header-timeout-ms", o.header_timeout_ms, "Time for a request header to arrive (408)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--body-timeout-ms", o.body_timeout_ms, "Longest pause inside a request body (408)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--idle-timeout-s", o.idle_timeout_s, "Keep-alive wait for the next request")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-inputs", o.tensor_limits.max_tensors, "Input tensors in one inference request (400)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-tensor-dims", o.tensor_limits.max_dims, "Dimensions of one tensor (400)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--max-tensor-bytes", o.tensor_limits.max_tensor_bytes,
                 "Bytes one input tensor may declare by its shape and datatype (400)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd.add_option("--grpc-max-concurrent-streams", o.grpc_max_concurrent_streams,
                 "gRPC calls in flight on one connection")
      ->capture_default_str()->check(CLI::PositiveNumber);
}

// TLS and the management listener (docs/security.md, "TLS"). `client_auth` is read
// after parsing: unset, it follows --tls-client-ca (require with one, none without).
void add_tls_options(CLI::App& cmd, quiver::api::ServeOptions& o, std::string& cert, std::string& key,
                     std::string& client_ca, std::string& client_auth) {
  cmd.add_option("--tls-cert", cert, "PEM certificate chain: serve HTTP and gRPC over TLS (reloaded on SIGHUP)");
  cmd.add_option("--tls-key", key, "PEM private key of --tls-cert");
  cmd.add_option("--tls-client-ca", client_ca, "PEM CA bundle that signs client certificates (mutual TLS)");
  cmd.add_option("--tls-client-auth", client_auth,
                 "Client certificates: none, optional (verified when sent) or require; default: require with "
                 "--tls-client-ca, else none")
      ->check(CLI::IsMember({"none", "optional", "require"}));
  cmd.add_option("--tls-min-version", o.tls.min_version, "Oldest TLS version accepted on HTTP: 1.2 or 1.3")
      ->capture_default_str()
      ->check(CLI::IsMember({"1.2", "1.3"}));
  cmd.add_option("--management-port", o.management_port,
                 "Serve the management API (/v1, /metrics) on this port only (0 picks a free one); the main "
                 "port then answers it 404");
  cmd.add_option("--management-host", o.management_host, "Address of the management listener")
      ->capture_default_str();
}

// Tokens and roles (docs/security.md, "Tokens and roles").
void add_auth_options(CLI::App& cmd, quiver::api::ServeOptions& o) {
  cmd.add_flag("--auth", o.auth,
               "Require a token (Authorization: Bearer qv_...) for every call but health; the first start writes "
               "an admin token to <data-dir>/admin.token");
  cmd.add_flag("--insecure-no-auth", o.insecure_no_auth,
               "Allow listening on a non-loopback --host without --auth (only behind something that authenticates)");
  cmd.add_flag("--public-inference", o.public_inference,
               "With --auth: inference and model metadata need no token unless a deployment says "
               "access: {inference: token}");
  cmd.add_option("--rate-limit", o.rate_limit, "Requests per second per token (429 beyond); 0: no limit")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd.add_option("--rate-burst", o.rate_burst, "Requests a token may make at once; 0: max(1, --rate-limit)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
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

  quiver::api::ServeOptions options;
  std::string data_dir = options.data_dir.string();
  auto* serve_cmd = app.add_subcommand("serve", "Run the server");
  serve_cmd->add_option("--host", options.host,
                        "Address to listen on; other than loopback it needs --auth (or --insecure-no-auth)")
      ->capture_default_str();
  serve_cmd->add_option("--http-port", options.http_port, "HTTP port (0 picks a free one)")->capture_default_str();
  serve_cmd->add_option("--grpc-port", options.grpc_port, "gRPC port (0 picks a free one)")->capture_default_str();
  serve_cmd->add_option("--data-dir", data_dir, "Registry and blob store folder")->capture_default_str();
  serve_cmd->add_option("--http-threads", options.http_threads, "HTTP I/O threads (0: half the cores, at least one)");
  serve_cmd->add_option("--grpc-threads", options.grpc_threads,
                        "gRPC threads, each with its own completion queue (0: one per core)");
  serve_cmd->add_option("--max-body-bytes", options.max_body_bytes,
                        "Largest buffered request body, compressed or inflated, and gRPC message (413)")
      ->capture_default_str();
  add_limit_options(*serve_cmd, options);
  add_auth_options(*serve_cmd, options);
  std::string tls_cert, tls_key, tls_client_ca, tls_client_auth;
  add_tls_options(*serve_cmd, options, tls_cert, tls_key, tls_client_ca, tls_client_auth);
  serve_cmd->add_option("--intra-op-threads", options.intra_op_threads, "Threads per model instance")
      ->capture_default_str();
  serve_cmd->add_option("--warmup-runs", options.warmup_runs, "Warmup requests per instance before ready")
      ->capture_default_str();
  serve_cmd
      ->add_option("--inline-below-us", options.inline_below_us,
                   "Run a request on the I/O thread that read it when its model's forward takes less "
                   "(no batching, in process); 0: always hand it to the model's worker")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  serve_cmd
      ->add_option_function<std::string>(
          "--memory-budget",
          [&options](const std::string& text) {
            auto bytes = quiver::registry::parse_byte_size(text);
            if (!bytes.is_ok()) throw CLI::ValidationError("--memory-budget", bytes.status().message());
            options.memory_budget_bytes = *bytes;
          },
          "Memory all on-demand versions may hold together, e.g. 4Gi; least recently used are evicted beyond it")
      ->type_name("SIZE");
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
  // Scale-out (docs/scale-out.md).
  serve_cmd->add_option("--registry", options.registry_url,
                        "Shared registry of replicas: postgresql://USER[:PASSWORD]@HOST:PORT/DB (default: SQLite in "
                        "--data-dir); also QUIVER_REGISTRY_URL")
      ->envname("QUIVER_REGISTRY_URL");
  serve_cmd->add_option("--replica-id", options.replica_id,
                        "This replica's name in the cluster (default: <hostname>:<http port>)");
  serve_cmd->add_option("--advertise-address", options.advertise_address,
                        "host:port where other replicas and operators reach this replica's HTTP API");
  serve_cmd->add_option("--artifact-store", options.artifact_store,
                        "Durable artifact copies for replicas: postgresql, or s3://BUCKET[/PREFIX]?endpoint=URL&region=R "
                        "(default with --registry: postgresql)");
  serve_cmd->add_option("--leader-lease-ms", options.leader_lease_ms, "Leader lease time to live")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{200}, int64_t{600000}));
  serve_cmd->add_option("--heartbeat-ms", options.heartbeat_ms, "Replica heartbeat and lease renewal interval")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{50}, int64_t{60000}));
  serve_cmd->add_option("--registry-poll-ms", options.registry_poll_ms,
                        "Read the registry revision this often besides notifications")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{50}, int64_t{600000}));
  serve_cmd->add_flag("--no-registry-notify{false}", options.registry_notify,
                      "Do not LISTEN for registry notifications: rely on --registry-poll-ms alone");
  // Signed artifacts (docs/security.md, "Signed artifacts").
  std::string trusted_keys;
  serve_cmd->add_option("--trusted-keys", trusted_keys,
                        "Folder of PEM public keys (EC P-256) trusted to sign artifacts; every *.pem in it");
  serve_cmd->add_flag("--require-signature", options.require_signature,
                      "Accept and load only versions signed by a trusted key (per model: PUT /v1/models/M/policy)");
  // Observability (docs/observability.md).
  serve_cmd->add_option("--access-log", options.access_log,
                        "Write one JSON line per HTTP request to this file ('-': standard output)");
  serve_cmd->add_option("--log-level", options.log_level, "Server log level")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  serve_cmd->add_option("--log-format", options.log_format, "Server log format on stderr")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  int exit_code = 0;
  serve_cmd->callback([&] {
    options.data_dir = data_dir;
    options.trusted_keys_dir = trusted_keys;
    options.tls.cert_file = tls_cert;
    options.tls.key_file = tls_key;
    options.tls.client_ca_file = tls_client_ca;
    if (tls_client_auth.empty()) tls_client_auth = tls_client_ca.empty() ? "none" : "require";
    options.tls.client_auth = quiver::api::parse_client_auth(tls_client_auth).value();
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
