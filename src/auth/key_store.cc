#include "auth/key_store.h"

#include <spdlog/spdlog.h>

#include "auth/token.h"

namespace quiver::auth {

std::string Principal::describe() const {
  std::string out = "token " + key_id + " (role " + std::string(role_name(role));
  if (role != Role::kAdmin && !(models.size() == 1 && models.front() == "*")) {
    out += ", models ";
    for (size_t i = 0; i < models.size(); ++i) {
      if (i > 0) out += ",";
      out += models[i];
    }
  }
  return out + ")";
}

KeyStore::KeyStore(registry::Registry& registry, const Clock& clock, KeyStoreOptions options)
    : registry_(registry), clock_(clock), options_(options), keys_(std::make_shared<const KeyMap>()) {}

KeyStore::~KeyStore() { stop(); }

Status KeyStore::install(const std::vector<registry::ApiKeyRecord>& records) {
  auto map = std::make_shared<KeyMap>();
  for (const auto& r : records) {
    const auto role = role_from_name(r.role);
    if (!role) {
      spdlog::error("key {} has an unknown role '{}'; it is ignored", r.id, r.role);
      continue;
    }
    CachedKey k;
    k.salt = r.salt;
    k.secret_hash = r.secret_hash;
    k.role = *role;
    k.models = r.models;
    if (r.expires_at_ms)
      k.expires_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(*r.expires_at_ms));
    k.revoked_at = r.revoked_at;
    map->emplace(r.id, std::move(k));
  }
  keys_.store(std::move(map));
  return Status::ok();
}

Status KeyStore::refresh() {
  std::lock_guard lock(refresh_mu_);
  QUIVER_ASSIGN_OR_RETURN(auto records, registry_.list_keys());
  return install(records);
}

void KeyStore::start() {
  std::lock_guard lock(run_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void KeyStore::stop() {
  {
    std::lock_guard lock(run_mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  flush_last_used();
}

void KeyStore::run() {
  auto next_touch = std::chrono::steady_clock::now() + options_.touch_interval;
  std::unique_lock lock(run_mu_);
  while (!stopping_) {
    // The real steady clock paces the thread; the injected clock only judges expiry.
    wake_.wait_for(lock, options_.refresh_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    if (Status st = refresh(); !st.is_ok()) spdlog::warn("cannot re-read access keys: {}", st.message());
    if (std::chrono::steady_clock::now() >= next_touch) {
      flush_last_used();
      next_touch = std::chrono::steady_clock::now() + options_.touch_interval;
    }
    lock.lock();
  }
}

Result<Principal> KeyStore::authenticate(std::string_view authorization) {
  QUIVER_ASSIGN_OR_RETURN(ParsedToken token, parse_bearer(authorization));
  const std::shared_ptr<const KeyMap> keys = keys_.load();
  const auto it = keys->find(token.key_id);
  if (it == keys->end()) return unauthenticated("unknown token: key " + token.key_id + " does not exist on this server");
  const CachedKey& k = it->second;
  if (!constant_time_equal(hash_secret(k.salt, token.secret), k.secret_hash))
    return unauthenticated("invalid token: the secret does not match key " + token.key_id);
  if (k.revoked_at) return unauthenticated("token " + token.key_id + " was revoked at " + *k.revoked_at);
  const auto now = clock_.wall_now();
  if (k.expires_at && now >= *k.expires_at)
    return unauthenticated("token " + token.key_id + " expired at " + format_utc(*k.expires_at));
  {
    std::lock_guard lock(touch_mu_);
    pending_touches_[token.key_id] = format_utc(now);
  }
  return Principal{token.key_id, k.role, k.models};
}

Result<CreatedKey> KeyStore::create(const NewKey& key, const registry::Actor& actor) {
  if (key.models.empty()) return invalid_argument("\"models\" must list at least one glob (\"*\" for every model)");
  for (const std::string& glob : key.models) {
    if (!valid_scope_glob(glob))
      return invalid_argument("model glob '" + glob.substr(0, 140) +
                              "' is not valid: use model-name characters [A-Za-z0-9_.-] and * ? [ ]");
  }
  if (key.role == Role::kAdmin && !(key.models.size() == 1 && key.models.front() == "*"))
    return invalid_argument("admin tokens cannot be scoped to models: an admin can create any token");
  if (key.expires_in && key.expires_in->count() <= 0) return invalid_argument("expires_in must be positive");
  QUIVER_ASSIGN_OR_RETURN(NewSecret secret, generate_secret());
  registry::ApiKeyRecord record;
  record.id = secret.key_id;
  record.role = std::string(role_name(key.role));
  record.models = key.models;
  record.salt = secret.salt;
  record.secret_hash = secret.hash;
  record.description = key.description;
  if (key.expires_in) {
    const auto at = clock_.wall_now() + *key.expires_in;
    record.expires_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  }
  QUIVER_ASSIGN_OR_RETURN(registry::ApiKeyRecord stored, registry_.create_key(record, actor));
  if (Status st = refresh(); !st.is_ok()) spdlog::warn("cannot re-read access keys: {}", st.message());
  return CreatedKey{std::move(stored), secret.token()};
}

Result<registry::ApiKeyRecord> KeyStore::revoke(const std::string& id, const registry::Actor& actor) {
  QUIVER_ASSIGN_OR_RETURN(registry::ApiKeyRecord revoked, registry_.revoke_key(id, actor));
  // Effective at once on this server (other replicas: at their next refresh).
  if (Status st = refresh(); !st.is_ok()) return st.with_context("the key is revoked, but re-reading keys failed");
  return revoked;
}

Result<std::vector<registry::ApiKeyRecord>> KeyStore::list() const { return registry_.list_keys(); }

size_t KeyStore::size() const { return keys_.load()->size(); }

void KeyStore::flush_last_used() {
  std::map<std::string, std::string> touches;
  {
    std::lock_guard lock(touch_mu_);
    touches.swap(pending_touches_);
  }
  if (touches.empty()) return;
  if (Status st = registry_.touch_keys(touches); !st.is_ok())
    spdlog::warn("cannot record when keys were last used: {}", st.message());
}

}  // namespace quiver::auth
