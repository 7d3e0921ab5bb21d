#include "api/common/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <system_error>

#include <boost/asio/ssl/context.hpp>
#include <spdlog/spdlog.h>

namespace quiver::api {
namespace fs = std::filesystem;
namespace ssl = boost::asio::ssl;

struct TlsContextProvider::Material {
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;  // empty without a client CA
};

namespace {

// The most specific reason OpenSSL queued, or `fallback`.
std::string openssl_reason(const std::string& fallback) {
  unsigned long last = 0;
  while (const unsigned long e = ERR_get_error()) last = e;
  if (last == 0) return fallback;
  char text[256];
  ERR_error_string_n(last, text, sizeof(text));
  return text;
}

Result<std::string> read_file(const fs::path& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument("cannot read the TLS " + std::string(what) + " file " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) return invalid_argument("the TLS " + std::string(what) + " file " + path.string() + " is empty");
  return text.str();
}

// Adds every certificate of a PEM bundle to the names a server sends in its
// CertificateRequest, so a client knows which of its certificates to present.
Status add_client_ca_names(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return internal_error("out of memory reading the client CA");
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    SSL_CTX_add_client_CA(ctx, cert);
    X509_free(cert);
    ++added;
  }
  BIO_free(bio);
  ERR_clear_error();  // the end of the bundle reads as an error
  if (added == 0) return invalid_argument("the TLS client CA file holds no PEM certificate");
  return Status::ok();
}

bool is_private_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return false;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  EVP_PKEY_free(key);
  return true;
}

Result<std::shared_ptr<ssl::context>> build_context(const TlsOptions& o, const TlsContextProvider::Material& m) {
  ERR_clear_error();
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  boost::system::error_code ec;
  // No SSL 3, TLS 1.0 or 1.1 whatever the minimum; no compression (CRIME); no
  // client-initiated renegotiation (a CPU exhaustion vector).
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  if (ec) return internal_error("cannot configure TLS: " + ec.message());
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_min_proto_version(native, o.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION) != 1)
    return internal_error("cannot set the minimum TLS version: " + openssl_reason("unknown error"));

  ctx->use_certificate_chain(boost::asio::buffer(m.cert_pem), ec);
  if (ec)
    return invalid_argument("the TLS certificate " + o.cert_file.string() + " is not a PEM certificate chain: " +
                            openssl_reason(ec.message()));
  if (!is_private_key(m.key_pem))
    return invalid_argument("the TLS key " + o.key_file.string() + " is not a PEM private key: " +
                            openssl_reason("no key found"));
  ctx->use_private_key(boost::asio::buffer(m.key_pem), ssl::context::pem, ec);
  if (ec || SSL_CTX_check_private_key(native) != 1)
    return invalid_argument("the TLS key " + o.key_file.string() + " does not match the certificate " +
                            o.cert_file.string());

  if (o.client_auth == ClientAuth::kNone) {
    ctx->set_verify_mode(ssl::verify_none, ec);
  } else {
    ctx->add_certificate_authority(boost::asio::buffer(m.ca_pem), ec);
    if (ec)
      return invalid_argument("the TLS client CA " + o.client_ca_file.string() + " is not a PEM certificate: " +
                              openssl_reason(ec.message()));
    QUIVER_RETURN_IF_ERROR(add_client_ca_names(native, m.ca_pem));
    ctx->set_verify_mode(o.client_auth == ClientAuth::kRequire
                             ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                             : ssl::verify_peer,
                         ec);
    // Session resumption with client certificates needs an id context.
    static constexpr unsigned char kSessionContext[] = "quiver";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  }
  if (ec) return internal_error("cannot configure TLS client verification: " + ec.message());
  return ctx;
}

Result<TlsContextProvider::Material> read_material(const TlsOptions& o) {
  TlsContextProvider::Material m;
  QUIVER_ASSIGN_OR_RETURN(m.cert_pem, read_file(o.cert_file, "certificate"));
  QUIVER_ASSIGN_OR_RETURN(m.key_pem, read_file(o.key_file, "key"));
  if (o.client_auth != ClientAuth::kNone) {
    QUIVER_ASSIGN_OR_RETURN(m.ca_pem, read_file(o.client_ca_file, "client CA"));
  }
  return m;
}

Status write_private_file(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return unavailable("cannot write " + tmp.string());
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write);
    out << text;
    if (!out.flush()) return unavailable("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return unavailable("cannot write " + path.string() + ": " + ec.message());
  return Status::ok();
}

}  // namespace

Result<ClientAuth> parse_client_auth(std::string_view text) {
  if (text == "none") return ClientAuth::kNone;
  if (text == "optional") return ClientAuth::kOptional;
  if (text == "require") return ClientAuth::kRequire;
  return invalid_argument("--tls-client-auth must be none, optional or require, not '" + std::string(text) + "'");
}

std::string_view client_auth_name(ClientAuth mode) {
  switch (mode) {
    case ClientAuth::kNone: return "none";
    case ClientAuth::kOptional: return "optional";
    case ClientAuth::kRequire: return "require";
  }
  return "none";
}

Status TlsOptions::validate() const {
  if (cert_file.empty() != key_file.empty())
    return invalid_argument("TLS needs both --tls-cert and --tls-key");
  if (!enabled()) {
    if (!client_ca_file.empty() || client_auth != ClientAuth::kNone)
      return invalid_argument("--tls-client-ca and --tls-client-auth need --tls-cert and --tls-key");
    return Status::ok();
  }
  if (client_auth != ClientAuth::kNone && client_ca_file.empty())
    return invalid_argument("--tls-client-auth " + std::string(client_auth_name(client_auth)) +
                            " needs --tls-client-ca (the CA that signs client certificates)");
  if (client_auth == ClientAuth::kNone && !client_ca_file.empty())
    return invalid_argument("--tls-client-ca is given but --tls-client-auth is none; say optional or require");
  if (min_version != "1.2" && min_version != "1.3")
    return invalid_argument("--tls-min-version must be 1.2 or 1.3, not '" + min_version + "'");
  return Status::ok();
}

TlsContextProvider::TlsContextProvider(TlsOptions options, fs::path grpc_dir)
    : options_(std::move(options)), grpc_dir_(std::move(grpc_dir)) {}

TlsContextProvider::~TlsContextProvider() {
  if (grpc_dir_.empty()) return;
  std::error_code ignored;
  fs::remove_all(grpc_dir_, ignored);  // a private copy of the key does not outlive the server
}

Result<std::shared_ptr<TlsContextProvider>> TlsContextProvider::create(TlsOptions options, fs::path grpc_dir) {
  QUIVER_RETURN_IF_ERROR(options.validate());
  if (!options.enabled()) return invalid_argument("TLS is not configured (no --tls-cert and --tls-key)");
  QUIVER_ASSIGN_OR_RETURN(Material material, read_material(options));
  QUIVER_ASSIGN_OR_RETURN(auto context, build_context(options, material));
  std::shared_ptr<TlsContextProvider> provider(new TlsContextProvider(std::move(options), std::move(grpc_dir)));
  if (!provider->grpc_dir_.empty()) {
    std::error_code ec;
    fs::remove_all(provider->grpc_dir_, ec);
    fs::create_directories(provider->grpc_dir_, ec);
    if (ec) return unavailable("cannot create " + provider->grpc_dir_.string() + ": " + ec.message());
    fs::permissions(provider->grpc_dir_, fs::perms::owner_all, ec);
    QUIVER_RETURN_IF_ERROR(provider->publish_for_grpc(material));
  }
  provider->context_ = std::move(context);
  provider->generation_ = 1;
  return provider;
}

std::shared_ptr<ssl::context> TlsContextProvider::current() const {
  std::lock_guard lock(mu_);
  return context_;
}

uint64_t TlsContextProvider::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

Status TlsContextProvider::reload() {
  std::lock_guard serial(reload_mu_);
  auto failed = [&](const Status& why) {
    spdlog::error("TLS reload failed, the previous certificate stays in use: {}", why.message());
    return why;
  };
  auto material = read_material(options_);
  if (!material.is_ok()) return failed(material.status());
  auto context = build_context(options_, *material);
  if (!context.is_ok()) return failed(context.status());
  if (!grpc_dir_.empty()) {
    if (Status st = publish_for_grpc(*material); !st.is_ok()) return failed(st);
  }
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    context_ = std::move(context).value();
    generation = ++generation_;
  }
  spdlog::info("TLS certificate reloaded from {} (generation {})", options_.cert_file.string(), generation);
  return Status::ok();
}

// Writes the files into a new generation folder, then points `current` at it with an
// atomic rename of a symlink, so a reader sees the old pair or the new pair.
Status TlsContextProvider::publish_for_grpc(const Material& material) {
  const uint64_t sequence = ++published_;
  const std::string name = "gen-" + std::to_string(sequence);
  const fs::path folder = grpc_dir_ / name;
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return unavailable("cannot create " + folder.string() + ": " + ec.message());
  QUIVER_RETURN_IF_ERROR(write_private_file(folder / "cert.pem", material.cert_pem));
  QUIVER_RETURN_IF_ERROR(write_private_file(folder / "key.pem", material.key_pem));
  if (!material.ca_pem.empty()) QUIVER_RETURN_IF_ERROR(write_private_file(folder / "ca.pem", material.ca_pem));
  const fs::path link = grpc_dir_ / "current";
  const fs::path staged = grpc_dir_ / "current.new";
  fs::remove(staged, ec);
  fs::create_directory_symlink(name, staged, ec);
  if (ec) return unavailable("cannot link " + staged.string() + ": " + ec.message());
  fs::rename(staged, link, ec);
  if (ec) return unavailable("cannot replace " + link.string() + ": " + ec.message());
  // Keep the previous generation (gRPC may be reading it right now); drop older ones.
  for (const auto& entry : fs::directory_iterator(grpc_dir_, ec)) {
    const std::string entry_name = entry.path().filename().string();
    if (!entry_name.starts_with("gen-") || entry_name == name) continue;
    const uint64_t number = std::stoull(entry_name.substr(4));
    if (number + 1 < sequence) fs::remove_all(entry.path(), ec);
  }
  return Status::ok();
}

fs::path TlsContextProvider::grpc_cert_path() const { return grpc_dir_ / "current" / "cert.pem"; }
fs::path TlsContextProvider::grpc_key_path() const { return grpc_dir_ / "current" / "key.pem"; }
fs::path TlsContextProvider::grpc_client_ca_path() const {
  return options_.client_auth == ClientAuth::kNone ? fs::path() : grpc_dir_ / "current" / "ca.pem";
}

std::string peer_identity(void* ssl_handle) {
  SSL* ssl = static_cast<SSL*>(ssl_handle);
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return {};
  std::string identity;
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
    if (length > 0) identity.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
    OPENSSL_free(utf8);
  }
  if (identity.empty()) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) return {};
    X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    if (length > 0) identity.assign(data, static_cast<size_t>(length));
    BIO_free(bio);
  }
  return identity;
}

}  // namespace quiver::api
