#include "api/inference/response_cache.h"

#include <gtest/gtest.h>

#include <thread>

namespace quiver::api {
namespace {

Tensor fp32(std::string name, Shape shape, std::vector<float> v) {
  return Tensor::from_values<float>(std::move(name), DataType::kFp32, std::move(shape), v);
}

std::vector<float> floats(const Tensor& t) { return {t.values<float>().begin(), t.values<float>().end()}; }

ResponseCache::Key key_of(int64_t version, std::vector<float> x) {
  return ResponseCache::make_key(version, {fp32("x", {1, static_cast<int64_t>(x.size())}, std::move(x))});
}

TEST(ResponseCacheKey, DependsOnVersionNameDtypeShapeAndBytesButNotInputOrder) {
  const auto base = ResponseCache::make_key(1, {fp32("x", {1, 2}, {1, 2})});
  EXPECT_EQ(base.bytes, ResponseCache::make_key(1, {fp32("x", {1, 2}, {1, 2})}).bytes);
  EXPECT_NE(base.bytes, ResponseCache::make_key(2, {fp32("x", {1, 2}, {1, 2})}).bytes);
  EXPECT_NE(base.bytes, ResponseCache::make_key(1, {fp32("y", {1, 2}, {1, 2})}).bytes);
  EXPECT_NE(base.bytes, ResponseCache::make_key(1, {fp32("x", {2, 1}, {1, 2})}).bytes);
  EXPECT_NE(base.bytes, ResponseCache::make_key(1, {fp32("x", {1, 2}, {1, 3})}).bytes);
  EXPECT_NE(base.bytes,
            ResponseCache::make_key(1, {Tensor::from_values<int32_t>("x", DataType::kInt32, {1, 2},
                                                                     std::vector<int32_t>{1, 2})})
                .bytes);
  const auto ab = ResponseCache::make_key(1, {fp32("a", {1}, {1}), fp32("b", {1}, {2})});
  const auto ba = ResponseCache::make_key(1, {fp32("b", {1}, {2}), fp32("a", {1}, {1})});
  EXPECT_EQ(ab.bytes, ba.bytes);
  EXPECT_EQ(ab.hash, ba.hash);
}

TEST(ResponseCache, HitReturnsTheStoredOutputsAndMissReturnsNothing) {
  ResponseCache cache(4);
  EXPECT_FALSE(cache.lookup(key_of(1, {1, 2})));
  cache.insert(key_of(1, {1, 2}), {fp32("y", {1, 1}, {42})});
  auto hit = cache.lookup(key_of(1, {1, 2}));
  ASSERT_TRUE(hit);
  ASSERT_EQ(hit->size(), 1u);
  EXPECT_EQ((*hit)[0].name(), "y");
  EXPECT_EQ((*hit)[0].shape(), (Shape{1, 1}));
  EXPECT_EQ(floats((*hit)[0]), (std::vector<float>{42}));
  EXPECT_FALSE(cache.lookup(key_of(1, {1, 3})));
  EXPECT_FALSE(cache.lookup(key_of(2, {1, 2}))) << "another version";
}

TEST(ResponseCache, EqualHashesAreNotEnoughForAHit) {
  ResponseCache cache(4);
  auto stored = key_of(1, {1, 2});
  auto other = key_of(1, {5, 6});
  other.hash = stored.hash;  // a forced collision
  cache.insert(stored, {fp32("y", {1}, {1})});
  EXPECT_FALSE(cache.lookup(other));
  EXPECT_TRUE(cache.lookup(stored));
}

TEST(ResponseCache, EvictsTheLeastRecentlyUsedEntry) {
  ResponseCache cache(2);
  cache.insert(key_of(1, {1}), {fp32("y", {1}, {1})});
  cache.insert(key_of(1, {2}), {fp32("y", {1}, {2})});
  ASSERT_TRUE(cache.lookup(key_of(1, {1})));  // now {1} is the most recent
  cache.insert(key_of(1, {3}), {fp32("y", {1}, {3})});
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.lookup(key_of(1, {1})));
  EXPECT_FALSE(cache.lookup(key_of(1, {2})));
  EXPECT_TRUE(cache.lookup(key_of(1, {3})));
  cache.insert(key_of(1, {3}), {fp32("y", {1}, {33})});  // replaces, does not grow
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(floats(cache.lookup(key_of(1, {3}))->front()), (std::vector<float>{33}));
}

TEST(ResponseCache, StoresACopyIndependentOfTheOutputsBuffer) {
  ResponseCache cache(1);
  {
    std::vector<Tensor> outputs = {fp32("y", {2}, {7, 8})};
    cache.insert(key_of(1, {1}), outputs);
  }
  EXPECT_EQ(floats(cache.lookup(key_of(1, {1}))->front()), (std::vector<float>{7, 8}));
}

TEST(ResponseCache, ConcurrentUseKeepsItConsistent) {
  ResponseCache cache(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 2000; ++i) {
        const float v = static_cast<float>((i * 7 + t) % 40);
        if (auto hit = cache.lookup(key_of(1, {v}))) {
          ASSERT_EQ(floats(hit->front()), (std::vector<float>{v * 2}));
        } else {
          cache.insert(key_of(1, {v}), {fp32("y", {1}, {v * 2})});
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.size(), 16u);
}

TEST(ResponseCaches, OneCachePerModelReplacedWhenItsSizeChanges) {
  ResponseCaches caches;
  EXPECT_EQ(caches.for_model("m", 0), nullptr);
  auto a = caches.for_model("m", 10);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->capacity(), 10u);
  EXPECT_EQ(caches.for_model("m", 10), a);
  EXPECT_NE(caches.for_model("other", 10), a);
  a->insert(key_of(1, {1}), {fp32("y", {1}, {1})});
  auto b = caches.for_model("m", 20);
  EXPECT_NE(b, a);
  EXPECT_EQ(b->size(), 0u);
  EXPECT_EQ(caches.for_model("m", 0), nullptr);
  EXPECT_NE(caches.for_model("m", 20), b) << "turning it off dropped the old one";
}

}  // namespace
}  // namespace quiver::api
