#include "cli/command_context.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

namespace quiver::cli {

namespace {

std::string& token_storage() {
  static std::string token;
  return token;
}

// --cacert, --client-cert, --client-key: one command runs per process, like --token.
TlsClientOptions& tls_storage() {
  static TlsClientOptions tls;
  return tls;
}

}  // namespace

void add_server_option(CLI::App& command, std::string& server) {
  server = std::string(kDefaultServer);
  command.add_option("--server", server, "URL of the Quiver server")
      ->envname("QUIVER_SERVER")
      ->capture_default_str();
  // No default shown: the value is a secret.
  command.add_option("--token", token_storage(), "Access token (qv_...) for a server started with --auth")
      ->envname("QUIVER_TOKEN");
  command.add_option("--cacert", tls_storage().ca_file,
                     "https: PEM file of the CA that signed the server's certificate (default: the system's)")
      ->envname("QUIVER_CACERT");
  command.add_option("--client-cert", tls_storage().cert_file, "https: client certificate (PEM) for mutual TLS")
      ->envname("QUIVER_CLIENT_CERT");
  command.add_option("--client-key", tls_storage().key_file, "https: the client certificate's key (PEM)")
      ->envname("QUIVER_CLIENT_KEY");
}

const std::string& cli_token() { return token_storage(); }

CommandContext::CommandContext(std::string server_url, HttpClientOptions options)
    : server_url_(std::move(server_url)), token_(cli_token()), options_(std::move(options)) {
  if (options_.tls.ca_file.empty() && options_.tls.cert_file.empty()) options_.tls = tls_storage();
}

void CommandContext::add_credentials(HttpRequest& request) const {
  if (token_.empty()) return;
  for (const auto& [name, value] : request.headers) {
    if (name.size() == 13 && std::equal(name.begin(), name.end(), "authorization", [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        }))
      return;
  }
  request.headers.emplace("authorization", "Bearer " + token_);
}

Status CommandContext::usage(Status status) {
  if (!status.is_ok()) usage_error_ = true;
  return status;
}

Result<const HttpClient*> CommandContext::client() {
  if (!client_) {
    auto created = HttpClient::create(server_url_, options_);
    if (!created.is_ok()) {
      usage_error_ = true;
      return created.status();
    }
    client_.emplace(std::move(created).value());
  }
  return &*client_;
}

Result<HttpResponse> CommandContext::finish(Result<HttpResponse> exchanged) {
  if (!exchanged.is_ok()) {
    // No answer at all (as opposed to an answer saying no): exit code 3.
    unreachable_ = true;
    return exchanged;
  }
  if (!is_success(*exchanged)) return status_from_http_error(*exchanged);
  return exchanged;
}

Result<HttpResponse> CommandContext::send(HttpRequest request) {
  QUIVER_ASSIGN_OR_RETURN(const HttpClient* http, client());
  request.headers.emplace("x-quiver-client", "cli");
  add_credentials(request);
  return finish(http->exchange(request));
}

Result<HttpResponse> CommandContext::send_streamed(HttpRequest request, std::istream& body,
                                                   uint64_t size, const ProgressCallback& progress) {
  QUIVER_ASSIGN_OR_RETURN(const HttpClient* http, client());
  request.headers.emplace("x-quiver-client", "cli");
  add_credentials(request);
  return finish(http->exchange_streamed(request, body, size, progress));
}

Result<HttpResponse> CommandContext::send_download(HttpRequest request, std::ostream& out,
                                                   const ProgressCallback& progress) {
  QUIVER_ASSIGN_OR_RETURN(const HttpClient* http, client());
  request.headers.emplace("x-quiver-client", "cli");
  add_credentials(request);
  return finish(http->exchange_download(request, out, progress));
}

Result<nlohmann::json> CommandContext::call(std::string_view method, std::string target,
                                            const std::optional<nlohmann::json>& body,
                                            Headers headers) {
  HttpRequest request;
  request.method = std::string(method);
  request.target = std::move(target);
  request.headers = std::move(headers);
  request.headers.emplace("accept", "application/json");
  if (body) {
    request.headers.emplace("content-type", "application/json");
    request.body = body->dump();
  }
  const std::string what = fmt::format("the answer to {} {}", method, request.target);
  QUIVER_ASSIGN_OR_RETURN(HttpResponse response, send(std::move(request)));
  if (response.body.empty()) return nlohmann::json(nullptr);
  return parse_json(response.body, what);
}

int CommandContext::exit_code_for(const Status& status) const {
  if (status.is_ok()) return 0;
  if (usage_error_) return kExitUsage;
  if (unreachable_) return kExitUnreachable;
  return kExitFailure;
}

void run_command(const std::string& server, const std::function<Status(CommandContext&)>& body) {
  CommandContext ctx(server);
  Status status;
  try {
    status = body(ctx);
  } catch (const std::exception& e) {
    // A bug or an exhausted resource; still one clear line and a failure code.
    status = internal_error(e.what());
  }
  if (status.is_ok()) return;
  std::cout.flush();
  std::cerr << "error: " << status.message() << std::endl;
  throw CLI::RuntimeError(ctx.exit_code_for(status));
}

Result<nlohmann::json> parse_json(std::string_view text, std::string_view what) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() reads "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    std::string reason = e.what();
    if (const size_t close = reason.find("] "); close != std::string::npos) reason.erase(0, close + 2);
    return invalid_argument(fmt::format("{} is not valid JSON: {}", what, reason));
  }
}

Result<std::string> read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return invalid_argument(fmt::format("'{}' is a directory, not a file", path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return internal_error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  return text.str();
}

Result<std::string> required_text(const nlohmann::json& answer, std::string_view key) {
  if (answer.is_object()) {
    const auto it = answer.find(key);
    if (it != answer.end()) {
      if (it->is_string()) return it->get<std::string>();
      if (it->is_number()) return it->dump();
    }
  }
  return internal_error(fmt::format("the server's answer has no '{}': {}", key, answer.dump()));
}

}  // namespace quiver::cli
