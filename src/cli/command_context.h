// What every client command shares: the --server option, calls to the server's JSON
// API, and the one way a command fails (one "error: ..." line on stderr and an exit
// code that tells scripts what kind of failure it was).
//
// Thread-safety: a CommandContext belongs to the one command that runs.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/http_client.h"
#include "core/status.h"

namespace quiver::cli {

// Exit codes of the client commands (0 on success).
inline constexpr int kExitFailure = 1;      // the server refused, or the command failed
inline constexpr int kExitUsage = 2;        // bad arguments or input files
inline constexpr int kExitUnreachable = 3;  // no answer from the server

inline constexpr std::string_view kDefaultServer = "http://127.0.0.1:8000";

// Adds --server (default: $QUIVER_SERVER, else kDefaultServer) and --token (default:
// $QUIVER_TOKEN) to `command`. `server` must outlive the command.
void add_server_option(CLI::App& command, std::string& server);

// The token given with --token or $QUIVER_TOKEN ("" when none); one command runs per
// process, so one value serves them all.
const std::string& cli_token();

class CommandContext {
 public:
  explicit CommandContext(std::string server_url, HttpClientOptions options = {});

  // Marks `status` as the user's mistake (exit code 2) and returns it, for
  // QUIVER_RETURN_IF_ERROR(ctx.usage(...)).
  Status usage(Status status);
  template <typename T>
  Result<T> usage(Result<T> result) {
    if (!result.is_ok()) usage_error_ = true;
    return result;
  }

  // A request to the server; a non-2xx answer becomes a Status with the server's
  // message. Every request carries "x-quiver-client: cli", and "Authorization: Bearer
  // <token>" when a token was given (unless the request sets Authorization itself).
  Result<HttpResponse> send(HttpRequest request);
  // send(), streaming `size` bytes of `body` (see HttpClient::exchange_streamed).
  Result<HttpResponse> send_streamed(HttpRequest request, std::istream& body, uint64_t size,
                                     const ProgressCallback& progress);

  // send(), writing a 2xx answer's body to `out` as it arrives (HttpClient::exchange_download).
  Result<HttpResponse> send_download(HttpRequest request, std::ostream& out, const ProgressCallback& progress);

  // JSON in, JSON out: `body` (when given) is sent as application/json and the
  // answer is parsed (an empty answer reads as null).
  Result<nlohmann::json> call(std::string_view method, std::string target,
                              const std::optional<nlohmann::json>& body = std::nullopt,
                              Headers headers = {});
  Result<nlohmann::json> get(std::string target) { return call("GET", std::move(target)); }

  // The exit code for a failure of this command with `status`.
  int exit_code_for(const Status& status) const;

  // The token requests carry ("" when none), for commands that open their own
  // connections (quiver bench).
  const std::string& token() const { return token_; }

 private:
  Result<const HttpClient*> client();
  Result<HttpResponse> finish(Result<HttpResponse> exchanged);

  void add_credentials(HttpRequest& request) const;

  std::string server_url_;
  std::string token_;
  HttpClientOptions options_;
  std::optional<HttpClient> client_;
  bool usage_error_ = false;
  bool unreachable_ = false;
};

// Runs `body` with a context for `server`. On failure prints "error: <message>" to
// stderr and throws CLI::RuntimeError with the matching exit code.
void run_command(const std::string& server, const std::function<Status(CommandContext&)>& body);

// Parses a JSON answer or input; `what` names it in the error message.
Result<nlohmann::json> parse_json(std::string_view text, std::string_view what);

// Reads a whole file; errors name the file and the reason.
Result<std::string> read_file(const std::string& path);

// The string member `key` of an answer, or an error naming what the server left out.
Result<std::string> required_text(const nlohmann::json& answer, std::string_view key);

}  // namespace quiver::cli
