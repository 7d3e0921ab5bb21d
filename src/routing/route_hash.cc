#include "routing/route_hash.h"

#include <cmath>
#include <limits>
#include <random>

namespace quiver::routing {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// (0, 1): never exactly 0 or 1, so -log(u) is finite and positive.
double to_open_unit(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * 0x1.0p-53; }

}  // namespace

uint64_t stable_hash(std::string_view key, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ splitmix64(seed);
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return splitmix64(h);
}

size_t rendezvous_pick(std::string_view key, std::span<const WeightedChoice> choices) {
  const uint64_t key_hash = stable_hash(key);
  size_t best = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < choices.size(); ++i) {
    if (choices[i].weight == 0) continue;
    // Weighted rendezvous: score = w / -ln(u) where u is uniform per (key, choice).
    const double u = to_open_unit(splitmix64(key_hash ^ splitmix64(choices[i].id + 1)));
    const double score = static_cast<double>(choices[i].weight) / -std::log(u);
    if (score > best_score) {
      best_score = score;
      best = i;
    }
  }
  return best;
}

double uniform01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace quiver::routing
