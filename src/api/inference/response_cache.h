// ResponseCache: an optional LRU of successful inference results of one model, so a
// repeated request is answered without queueing. Turned on per model by the
// deployment spec's cache.max_entries (0: off).
//
// A key is the version plus every input's name, dtype, shape and bytes (inputs in
// name order, so their order in the request does not matter). Lookups go by a 64-bit
// hash of the key, but a hit compares the whole key, so a hash collision can never
// return another request's answer. Versions are immutable, so an entry never goes
// stale; it only ages out. Capacity counts entries, not bytes.
//
// Thread-safety: every method may be called from any thread (one mutex per cache;
// the work under it is a hash lookup and a list splice, never inference).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace quiver::api {

class ResponseCache {
 public:
  struct Key {
    std::string bytes;  // the serialized version and inputs
    size_t hash = 0;
  };
  static Key make_key(int64_t version, const std::vector<Tensor>& inputs);

  // Precondition: capacity >= 1.
  explicit ResponseCache(size_t capacity) : capacity_(capacity) {}
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  size_t capacity() const { return capacity_; }
  size_t size() const;

  // The cached outputs (sharing the cache's immutable bytes), and marks them recently
  // used; nullopt on a miss.
  std::optional<std::vector<Tensor>> lookup(const Key& key);
  // Stores a copy of `outputs` (so the entry pins no request or batch buffers),
  // replacing an entry with the same key and evicting the least recently used one
  // beyond capacity.
  void insert(Key key, const std::vector<Tensor>& outputs);

 private:
  struct Entry {
    Key key;
    std::vector<Tensor> outputs;
  };
  // Views the key owned by the list node, which never moves.
  struct KeyView {
    size_t hash;
    std::string_view bytes;
    bool operator==(const KeyView& o) const { return hash == o.hash && bytes == o.bytes; }
  };
  struct KeyViewHash {
    size_t operator()(const KeyView& k) const { return k.hash; }
  };

  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<Entry> entries_;  // most recently used first; guarded by mu_
  std::unordered_map<KeyView, std::list<Entry>::iterator, KeyViewHash> index_;  // guarded by mu_
};

// One cache per model, sized by the model's current spec.
class ResponseCaches {
 public:
  // The model's cache with room for `max_entries`, or null when `max_entries` <= 0
  // (the cache is then dropped). A cache of another size is replaced by an empty one.
  std::shared_ptr<ResponseCache> for_model(std::string_view model, int64_t max_entries);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<ResponseCache>, std::less<>> caches_;  // guarded by mu_
  std::atomic<size_t> count_{0};  // caches_.size(), read without the mutex on the common "off" path
};

}  // namespace quiver::api
