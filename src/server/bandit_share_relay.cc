#include "server/bandit_share_relay.h"

namespace quiver::server {

using nlohmann::json;

void BanditShareRelay::publish(const std::string& model, int64_t revision, std::vector<TrafficWeight> traffic) {
  {
    std::lock_guard lock(mu_);
    published_[model] = Shares{revision, traffic};
  }
  manager_.set_traffic_override(model, revision, std::move(traffic));
}

json BanditShareRelay::shares_json(rollout::BanditController& bandits) const {
  std::map<std::string, Shares> copy;
  {
    std::lock_guard lock(mu_);
    copy = published_;
  }
  json out = json::object();
  for (const auto& [model, shares] : copy) {
    json traffic = json::array();
    for (const auto& tw : shares.traffic) traffic.push_back({tw.version.version, tw.weight});
    json entry = {{"revision", shares.revision}, {"traffic", traffic}};
    if (auto status = bandits.status(model); status.is_ok()) entry["status"] = *status;
    out[model] = std::move(entry);
  }
  return out;
}

void BanditShareRelay::apply_leader(const json& leader_shares) {
  if (!leader_shares.is_object()) return;
  for (const auto& [model, entry] : leader_shares.items()) {
    {
      std::lock_guard lock(mu_);
      auto it = leader_.find(model);
      if (it != leader_.end() && it->second.value("revision", int64_t{0}) == entry.value("revision", int64_t{0}) &&
          it->second.value("traffic", json()) == entry.value("traffic", json())) {
        it->second = entry;  // same shares; keep the newer status
        continue;
      }
      leader_[model] = entry;
    }
    std::vector<TrafficWeight> traffic;
    for (const auto& pair : entry.value("traffic", json::array())) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() || !pair[1].is_number_unsigned())
        continue;
      TrafficWeight tw;
      tw.version.version = pair[0].get<int64_t>();
      tw.version.ref = std::to_string(tw.version.version);
      tw.weight = pair[1].get<uint32_t>();
      traffic.push_back(tw);
    }
    if (!traffic.empty()) manager_.set_traffic_override(model, entry.value("revision", int64_t{0}), std::move(traffic));
  }
}

std::optional<json> BanditShareRelay::leader_status(const std::string& model) const {
  std::lock_guard lock(mu_);
  auto it = leader_.find(model);
  if (it == leader_.end() || !it->second.contains("status")) return std::nullopt;
  json status = it->second["status"];
  status["from_leader"] = true;
  return status;
}

}  // namespace quiver::server
