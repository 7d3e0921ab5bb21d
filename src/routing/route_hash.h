// Hashing for routing decisions. Sticky keys use weighted rendezvous hashing: every
// version scores the key and the highest score wins, so changing one version's weight
// moves keys only to or from that version, and every replica (same hash, same
// weights) sends a key to the same version without sharing any state.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace quiver::routing {

// 64-bit FNV-1a followed by a 64-bit finalizer (splitmix64): stable across processes,
// builds and machines, which is what sticky routing across replicas needs.
uint64_t stable_hash(std::string_view key, uint64_t seed = 0);

struct WeightedChoice {
  uint64_t id;      // e.g. the version number: part of the score, so it must be stable
  uint32_t weight;  // 0 never wins unless all are 0
};

// Index into `choices` chosen for `key`; choices must be non-empty.
size_t rendezvous_pick(std::string_view key, std::span<const WeightedChoice> choices);

// Uniform double in [0, 1) from a fast thread-local generator.
double uniform01();

}  // namespace quiver::routing
