#include "backup/archive.h"

#include <nlohmann/json.hpp>

#include <set>

#include "store/blob_store.h"

namespace quiver::backup {

using nlohmann::json;
using ordered_json = nlohmann::ordered_json;

uint64_t Manifest::blob_bytes() const {
  uint64_t total = 0;
  for (const auto& b : blobs) total += b.size;
  return total;
}

std::string Manifest::to_json() const {
  ordered_json j;
  j["format"] = kFormatName;
  j["format_version"] = format_version;
  j["created_at"] = created_at;
  j["registry"] = {{"file", kRegistryName}, {"sha256", registry_sha256}, {"size", registry_size}};
  json list = json::array();
  for (const auto& b : blobs) list.push_back({{"sha256", b.sha256}, {"size", b.size}});
  j["blobs"] = std::move(list);
  j["blob_count"] = blobs.size();
  j["blob_bytes"] = blob_bytes();
  return j.dump(1) + "\n";
}

Result<Manifest> Manifest::from_json(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const std::string& why) {
    return data_loss("backup manifest " + std::string(kManifestName) + ": " + why);
  };
  if (!j.is_object()) return bad("is not a JSON object");
  if (!j.contains("format") || j["format"] != kFormatName) return bad("is not a Quiver backup manifest");
  if (!j.contains("format_version") || !j["format_version"].is_number_integer())
    return bad("has no format_version");
  Manifest m;
  m.format_version = j["format_version"].get<int>();
  if (m.format_version != kFormatVersion)
    return failed_precondition("the backup has format version " + std::to_string(m.format_version) +
                               ", but this quiver reads version " + std::to_string(kFormatVersion) +
                               "; restore it with the release that made it or a newer one");
  if (j.contains("created_at") && j["created_at"].is_string()) m.created_at = j["created_at"].get<std::string>();
  const json* registry = j.contains("registry") ? &j["registry"] : nullptr;
  if (registry == nullptr || !registry->is_object() || !registry->contains("sha256") ||
      !(*registry)["sha256"].is_string() || !registry->contains("size") || !(*registry)["size"].is_number_unsigned())
    return bad("has no registry sha256 and size");
  m.registry_sha256 = (*registry)["sha256"].get<std::string>();
  m.registry_size = (*registry)["size"].get<uint64_t>();
  if (!store::is_valid_sha256(m.registry_sha256)) return bad("the registry sha256 is not a sha256");
  if (!j.contains("blobs") || !j["blobs"].is_array()) return bad("has no blob list");
  std::set<std::string> seen;
  for (const auto& b : j["blobs"]) {
    if (!b.is_object() || !b.contains("sha256") || !b["sha256"].is_string() || !b.contains("size") ||
        !b["size"].is_number_unsigned())
      return bad("a blob entry lacks sha256 or size");
    BlobRef ref{b["sha256"].get<std::string>(), b["size"].get<uint64_t>()};
    if (!store::is_valid_sha256(ref.sha256)) return bad("blob '" + ref.sha256 + "' is not a sha256");
    if (!seen.insert(ref.sha256).second) return bad("blob " + ref.sha256 + " is listed twice");
    m.blobs.push_back(std::move(ref));
  }
  return m;
}

}  // namespace quiver::backup
