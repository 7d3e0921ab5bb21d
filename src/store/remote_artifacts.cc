#include "store/remote_artifacts.h"

#include <cstdlib>

#include "pg/connection.h"
#include "store/pg_artifacts.h"
#include "store/s3_artifacts.h"

namespace quiver::store {

namespace {

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

Result<std::unique_ptr<RemoteArtifacts>> open_remote_artifacts(const std::string& spec,
                                                               const std::string& registry_url) {
  if (spec == "postgresql") {
    if (!pg::is_postgres_url(registry_url))
      return invalid_argument(
          "remote artifacts in \"postgresql\" live in the registry's database, so the registry must be a "
          "postgresql:// URL");
    QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<PgArtifacts> pg, PgArtifacts::open(registry_url));
    return std::unique_ptr<RemoteArtifacts>(std::move(pg));
  }
  if (spec.starts_with("s3://")) {
    QUIVER_ASSIGN_OR_RETURN(S3Config config, parse_s3_spec(spec));
    // Credentials come from the environment, as for every AWS tool, never from a flag
    // that `ps` would show.
    config.access_key_id = env_or_empty("AWS_ACCESS_KEY_ID");
    config.secret_access_key = env_or_empty("AWS_SECRET_ACCESS_KEY");
    config.session_token = env_or_empty("AWS_SESSION_TOKEN");
    QUIVER_ASSIGN_OR_RETURN(std::unique_ptr<S3Artifacts> s3, S3Artifacts::open(std::move(config)));
    return std::unique_ptr<RemoteArtifacts>(std::move(s3));
  }
  return invalid_argument("unknown remote artifact store '" + spec +
                          "': expected \"postgresql\" or s3://BUCKET[/PREFIX]?endpoint=...&region=...");
}

}  // namespace quiver::store
