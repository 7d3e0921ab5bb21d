// TLS for the HTTP listeners (Boost.Asio SSL over OpenSSL) and the material the gRPC
// listener reads: the server certificate and key, an optional client CA with mutual TLS
// none | optional | require, and a minimum protocol version.
//
// Reload: reload() re-reads the files into a new OpenSSL context and, only if it is
// valid, swaps it in atomically. Connections already open keep the context they were
// accepted with (each holds its shared_ptr); new ones get the new one. A failed reload
// keeps the previous context and says why. For gRPC, which reads its certificates from
// files, the provider keeps a private copy of the validated files (mode 0600 in a 0700
// folder) and replaces it atomically on each successful reload (gRPC notices within a
// second); gRPC thus never sees a half-written or mismatched pair either.
//
// Thread-safety: current() and reload() may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace boost::asio::ssl { class context; }

namespace quiver::api {

enum class ClientAuth { kNone, kOptional, kRequire };

// "none" | "optional" | "require".
Result<ClientAuth> parse_client_auth(std::string_view text);
std::string_view client_auth_name(ClientAuth mode);

struct TlsOptions {
  std::filesystem::path cert_file;       // PEM: the certificate chain, leaf first
  std::filesystem::path key_file;        // PEM: its private key
  std::filesystem::path client_ca_file;  // PEM: CAs that sign client certificates
  ClientAuth client_auth = ClientAuth::kNone;
  std::string min_version = "1.2";  // "1.2" or "1.3"

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  // The combination makes sense: both of cert and key, a client CA exactly when
  // client_auth is not none, a known min_version.
  Status validate() const;
};

class TlsContextProvider {
 public:
  // Loads the files and builds the first context. With a non-empty `grpc_dir`, also
  // writes the validated copies for gRPC there (the folder is created, mode 0700,
  // and anything in it replaced).
  static Result<std::shared_ptr<TlsContextProvider>> create(TlsOptions options,
                                                            std::filesystem::path grpc_dir = {});
  ~TlsContextProvider();

  // The context for a new connection. Never null.
  std::shared_ptr<boost::asio::ssl::context> current() const;
  // Re-reads the files named in the options; on any error keeps the current context.
  Status reload();
  // How many contexts were built (1 after create(), +1 per successful reload).
  uint64_t generation() const;

  const TlsOptions& options() const { return options_; }
  struct Material;  // the files' bytes (internal)
  // The copies gRPC watches (stable paths; their content changes on reload). The
  // client CA path is empty without a client CA.
  std::filesystem::path grpc_cert_path() const;
  std::filesystem::path grpc_key_path() const;
  std::filesystem::path grpc_client_ca_path() const;

 private:
  TlsContextProvider(TlsOptions options, std::filesystem::path grpc_dir);
  Status publish_for_grpc(const Material& material);

  const TlsOptions options_;
  const std::filesystem::path grpc_dir_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;  // guarded by mu_
  uint64_t generation_ = 0;                             // guarded by mu_
  std::mutex reload_mu_;                                // one reload at a time
  uint64_t published_ = 0;                              // copies written for gRPC; guarded by reload_mu_
};

// The identity of a verified TLS peer: its certificate subject's common name (CN),
// or the whole subject in one line when it has none. "" without a certificate.
// `ssl` is an OpenSSL SSL*.
std::string peer_identity(void* ssl);

}  // namespace quiver::api
