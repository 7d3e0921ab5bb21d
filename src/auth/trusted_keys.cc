#include "auth/trusted_keys.h"

#include <openssl/err.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <tuple>

#include "auth/ec_key.h"

namespace quiver::auth {

struct TrustedKeys::Impl {
  std::vector<TrustedKeyInfo> infos;  // sorted by name, then id
  std::vector<detail::PkeyPtr> keys;  // parallel to infos
};

TrustedKeys::TrustedKeys() : impl_(std::make_unique<Impl>()) {}
TrustedKeys::~TrustedKeys() = default;
TrustedKeys::TrustedKeys(TrustedKeys&&) noexcept = default;
TrustedKeys& TrustedKeys::operator=(TrustedKeys&&) noexcept = default;

Result<TrustedKeys> TrustedKeys::from_pems(const std::vector<std::pair<std::string, std::string>>& named_pems) {
  struct Loaded {
    TrustedKeyInfo info;
    detail::PkeyPtr key;
  };
  std::vector<Loaded> loaded;
  for (const auto& [name, pem] : named_pems) {
    auto key = detail::read_public_pem(pem);
    if (!key.is_ok()) return invalid_argument("trusted key '" + name + "': " + key.status().message());
    QUIVER_ASSIGN_OR_RETURN(std::string id, detail::key_id(key->get()));
    const bool seen = std::any_of(loaded.begin(), loaded.end(), [&](const Loaded& l) { return l.info.id == id; });
    if (seen) continue;
    loaded.push_back({{id, name}, std::move(key).value()});
  }
  std::sort(loaded.begin(), loaded.end(), [](const Loaded& a, const Loaded& b) {
    return std::tie(a.info.name, a.info.id) < std::tie(b.info.name, b.info.id);
  });
  TrustedKeys out;
  for (auto& l : loaded) {
    out.impl_->infos.push_back(std::move(l.info));
    out.impl_->keys.push_back(std::move(l.key));
  }
  return out;
}

Result<TrustedKeys> TrustedKeys::load_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return invalid_argument("--trusted-keys '" + dir.string() + "' is not a directory");
  std::vector<std::pair<std::string, std::string>> pems;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& path = it->path();
    if (path.extension() != ".pem") continue;
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in.good() && !in.eof()) return invalid_argument("cannot read trusted key file '" + path.string() + "'");
    pems.emplace_back(path.stem().string(), text.str());
  }
  if (ec) return invalid_argument("cannot list --trusted-keys '" + dir.string() + "': " + ec.message());
  if (pems.empty())
    return invalid_argument("--trusted-keys '" + dir.string() +
                            "' holds no *.pem public keys (export one with: openssl ec -in key.pem -pubout)");
  return from_pems(pems);
}

bool TrustedKeys::empty() const { return impl_->infos.empty(); }

const std::vector<TrustedKeyInfo>& TrustedKeys::keys() const { return impl_->infos; }

bool TrustedKeys::contains(std::string_view key_id) const {
  return std::any_of(impl_->infos.begin(), impl_->infos.end(),
                     [&](const TrustedKeyInfo& k) { return k.id == key_id; });
}

std::string TrustedKeys::describe() const {
  std::string out;
  for (const auto& k : impl_->infos) {
    if (!out.empty()) out += ", ";
    out += k.id + " (" + k.name + ")";
  }
  return out.empty() ? "none" : out;
}

std::optional<std::string> TrustedKeys::find_signer(std::span<const uint8_t> digest,
                                                    std::span<const uint8_t> der_signature,
                                                    std::optional<std::string_view> only_key_id) const {
  for (size_t i = 0; i < impl_->keys.size(); ++i) {
    if (only_key_id && impl_->infos[i].id != *only_key_id) continue;
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new(impl_->keys[i].get(), nullptr),
                                                                     &EVP_PKEY_CTX_free);
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1) {
      ERR_clear_error();
      continue;
    }
    const int rc = EVP_PKEY_verify(ctx.get(), der_signature.data(), der_signature.size(), digest.data(), digest.size());
    ERR_clear_error();  // a mismatch leaves errors queued; they must not leak into later calls
    if (rc == 1) return impl_->infos[i].id;
  }
  return std::nullopt;
}

}  // namespace quiver::auth
