#include "lifecycle/memory_budget.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <numeric>

namespace quiver::lifecycle {

std::vector<size_t> pick_victims(const std::vector<ResidentVersion>& resident, const std::string& model,
                                 int64_t incoming_bytes, const BudgetLimits& limits) {
  int64_t server_total = incoming_bytes;
  int64_t model_total = incoming_bytes;
  for (const auto& r : resident) {
    server_total += r.bytes;
    if (r.model == model) model_total += r.bytes;
  }
  const auto server_over = [&] { return limits.server_bytes > 0 && server_total > limits.server_bytes; };
  const auto model_over = [&] { return limits.model_bytes > 0 && !model.empty() && model_total > limits.model_bytes; };

  std::vector<size_t> order(resident.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return resident[a].last_used_ns < resident[b].last_used_ns; });

  std::vector<size_t> victims;
  for (size_t i : order) {
    if (!server_over() && !model_over()) break;
    const auto& r = resident[i];
    if (r.busy) continue;
    // Over only the model's budget: evicting another model's version would not help.
    if (!server_over() && r.model != model) continue;
    victims.push_back(i);
    server_total -= r.bytes;
    if (r.model == model) model_total -= r.bytes;
  }
  return victims;
}

int64_t resident_set_bytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return 0;
  return pages_resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace quiver::lifecycle
