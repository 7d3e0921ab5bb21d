// The eviction policy of on-demand versions: which resident versions to unload, least
// recently used first, so that a version about to load fits under the server's memory
// budget and its model's. Pure functions over a snapshot, so the policy is tested
// decision by decision without loading anything.
//
// Only on-demand versions count against a budget: eager versions cannot be evicted,
// so counting them would only make the budget harder to read.
//
// How much memory a version takes (lifecycle/on_demand_loader.cc measures it): the
// growth of the process's resident set across its load, never less than its artifact's
// size (a reload into memory the allocator kept shows little growth; the weights are
// in memory either way), and the largest such measurement seen for that version.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quiver::lifecycle {

struct ResidentVersion {
  std::string model;
  int64_t version = 0;
  int64_t bytes = 0;         // its memory (see above)
  int64_t last_used_ns = 0;  // when work last arrived; smaller is older
  bool busy = false;         // work queued or running: never a victim
};

struct BudgetLimits {
  int64_t server_bytes = 0;  // all on-demand versions together; 0: no limit
  int64_t model_bytes = 0;   // the incoming version's model; 0: no limit
};

// Indexes into `resident`, in eviction order, whose removal lets `incoming_bytes` of
// `model` fit under `limits` (model_bytes applies to `model`'s versions only). When
// busy versions make room impossible it returns every idle version that helps, and the
// caller loads anyway: serving the request beats refusing it, and the next pass evicts
// what has become idle. With incoming_bytes 0 it enforces the budget as it stands.
std::vector<size_t> pick_victims(const std::vector<ResidentVersion>& resident, const std::string& model,
                                 int64_t incoming_bytes, const BudgetLimits& limits);

// Resident set size of this process in bytes (/proc/self/statm); 0 when unknown.
int64_t resident_set_bytes();

}  // namespace quiver::lifecycle
