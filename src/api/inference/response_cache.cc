#include "api/inference/response_cache.h"

#include <algorithm>
#include <functional>

namespace quiver::api {
namespace {

void append_u64(std::string& out, uint64_t v) {
  char buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(buf, 8);
}

// Every variable-length part is length-prefixed, so distinct requests can never
// serialize to the same bytes.
void append_tensor(std::string& out, const Tensor& t) {
  append_u64(out, t.name().size());
  out += t.name();
  append_u64(out, static_cast<uint64_t>(t.dtype()));
  append_u64(out, t.shape().size());
  for (int64_t d : t.shape()) append_u64(out, static_cast<uint64_t>(d));
  const auto bytes = t.bytes();
  append_u64(out, bytes.size());
  out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Tensor owned_copy(const Tensor& t) {
  const auto b = t.bytes();
  return Tensor(t.name(), t.dtype(), t.shape(), std::vector<std::byte>(b.begin(), b.end()));
}

}  // namespace

ResponseCache::Key ResponseCache::make_key(int64_t version, const std::vector<Tensor>& inputs) {
  std::vector<const Tensor*> sorted;
  size_t total = 8;
  for (const Tensor& t : inputs) {
    sorted.push_back(&t);
    total += t.byte_size() + t.name().size() + 8 * (t.shape().size() + 4);
  }
  std::sort(sorted.begin(), sorted.end(), [](const Tensor* a, const Tensor* b) { return a->name() < b->name(); });
  Key key;
  key.bytes.reserve(total);
  append_u64(key.bytes, static_cast<uint64_t>(version));
  for (const Tensor* t : sorted) append_tensor(key.bytes, *t);
  key.hash = std::hash<std::string_view>{}(key.bytes);
  return key;
}

size_t ResponseCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::optional<std::vector<Tensor>> ResponseCache::lookup(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(KeyView{key.hash, key.bytes});
  if (it == index_.end()) return std::nullopt;
  entries_.splice(entries_.begin(), entries_, it->second);
  return it->second->outputs;
}

void ResponseCache::insert(Key key, const std::vector<Tensor>& outputs) {
  std::vector<Tensor> stored;
  stored.reserve(outputs.size());
  for (const Tensor& t : outputs) stored.push_back(owned_copy(t));  // outside the lock

  std::lock_guard lock(mu_);
  if (auto it = index_.find(KeyView{key.hash, key.bytes}); it != index_.end()) {
    it->second->outputs = std::move(stored);
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  entries_.push_front(Entry{std::move(key), std::move(stored)});
  const Entry& added = entries_.front();
  index_.emplace(KeyView{added.key.hash, added.key.bytes}, entries_.begin());
  while (entries_.size() > capacity_) {
    const Entry& oldest = entries_.back();
    index_.erase(KeyView{oldest.key.hash, oldest.key.bytes});
    entries_.pop_back();
  }
}

std::shared_ptr<ResponseCache> ResponseCaches::for_model(std::string_view model, int64_t max_entries) {
  if (max_entries <= 0 && count_.load(std::memory_order_relaxed) == 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = caches_.find(model);
  if (max_entries <= 0) {
    if (it != caches_.end()) caches_.erase(it);
    count_.store(caches_.size(), std::memory_order_relaxed);
    return nullptr;
  }
  const auto capacity = static_cast<size_t>(max_entries);
  if (it == caches_.end()) {
    it = caches_.emplace(std::string(model), nullptr).first;
  }
  if (!it->second || it->second->capacity() != capacity) it->second = std::make_shared<ResponseCache>(capacity);
  count_.store(caches_.size(), std::memory_order_relaxed);
  return it->second;
}

}  // namespace quiver::api
