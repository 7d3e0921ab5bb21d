// KeyStore: the server's view of its access tokens. Keys live in the registry; the
// store keeps an immutable in-memory copy that requests read without a lock and
// without touching the registry (DESIGN.md: no request waits on the control plane).
//
// Freshness: the copy is replaced at once after a create or revoke made through this
// store, and re-read from the registry every `refresh_interval` (500 ms by default)
// in a background thread, so a revocation made anywhere takes effect within 1 s.
// Expiry is checked on every request against the clock's wall time.
//
// last_used is tracked in memory and written to the registry by the same thread
// (at most every `touch_interval`), never on a request's path.
//
// Thread-safety: every method may be called from any thread. start() and stop() from
// the owner; stop() joins the thread and is idempotent.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "auth/roles.h"
#include "core/clock.h"
#include "core/status.h"
#include "registry/registry.h"

namespace quiver::auth {

// Who a valid token belongs to.
struct Principal {
  std::string key_id;
  Role role = Role::kReader;
  std::vector<std::string> models;  // scope globs; admin keys are never scoped

  bool may_use_model(std::string_view model) const { return role == Role::kAdmin || scope_allows(models, model); }
  // "token 3fa2c9d1e0b7a655 (role deployer)" or with its scope when scoped:
  // "token 3fa2c9d1e0b7a655 (role deployer, models fraud-*)".
  std::string describe() const;
};

struct NewKey {
  Role role = Role::kReader;
  std::vector<std::string> models = {"*"};
  std::optional<std::chrono::seconds> expires_in;  // none: never expires
  std::string description;
};

struct CreatedKey {
  registry::ApiKeyRecord record;
  std::string token;  // shown once; never stored
};

struct KeyStoreOptions {
  std::chrono::milliseconds refresh_interval{500};
  std::chrono::milliseconds touch_interval{5000};
};

class KeyStore {
 public:
  // `registry` and `clock` must outlive the store.
  KeyStore(registry::Registry& registry, const Clock& clock, KeyStoreOptions options = {});
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Reads every key from the registry now (start() does it first, too).
  Status refresh();
  // Starts the refresh thread. Call after a successful refresh().
  void start();
  void stop();

  // The key a bearer credential ("Bearer qv_...") names, when the token is valid now.
  // Unauthenticated, with the reason (malformed, unknown key, wrong secret, expired,
  // revoked), never repeating the secret.
  Result<Principal> authenticate(std::string_view authorization);

  // Creates a key; its token is in the answer and nowhere else. InvalidArgument for a
  // bad scope (and for a scoped admin key, which could mint itself unscoped ones).
  Result<CreatedKey> create(const NewKey& key, const registry::Actor& actor);
  Result<registry::ApiKeyRecord> revoke(const std::string& id, const registry::Actor& actor);
  Result<std::vector<registry::ApiKeyRecord>> list() const;
  // Number of keys known (revoked and expired included), from the last refresh.
  size_t size() const;

  // Writes pending last_used times now (the thread does it periodically and on stop).
  void flush_last_used();

 private:
  struct CachedKey {
    std::string salt;
    std::string secret_hash;
    Role role = Role::kReader;
    std::vector<std::string> models;
    std::optional<std::chrono::system_clock::time_point> expires_at;
    std::optional<std::string> revoked_at;
  };
  using KeyMap = std::unordered_map<std::string, CachedKey>;

  Status install(const std::vector<registry::ApiKeyRecord>& records);
  void run();

  registry::Registry& registry_;
  const Clock& clock_;
  const KeyStoreOptions options_;
  std::mutex refresh_mu_;  // one read-and-install at a time, so an older read never wins
  std::atomic<std::shared_ptr<const KeyMap>> keys_;

  std::mutex touch_mu_;
  std::map<std::string, std::string> pending_touches_;  // id -> UTC time

  std::mutex run_mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace quiver::auth
