#include "auth/bootstrap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace quiver::auth {
namespace {

Status write_private_file(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());  // a leftover from a crash
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable("cannot create " + tmp.string() + ": " + std::strerror(errno));
  const auto fail = [&](std::string_view step) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return unavailable("cannot " + std::string(step) + " " + tmp.string() + ": " + reason);
  };
  if (::fchmod(fd, 0600) != 0) return fail("restrict");
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("sync");
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return unavailable("cannot close " + tmp.string() + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    return unavailable("cannot rename " + tmp.string() + " to " + path.string() + ": " + reason);
  }
  return Status::ok();
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    static const in6_addr kLoopback = IN6ADDR_LOOPBACK_INIT;
    if (std::memcmp(&v6, &kLoopback, sizeof v6) == 0) return true;
    // ::ffff:127.x.y.z
    static const unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(v6.s6_addr, kMappedPrefix, 12) == 0 && v6.s6_addr[12] == 127;
  }
  return false;
}

Status check_bind_policy(std::string_view host, bool auth_enabled, bool insecure_no_auth, std::string_view what) {
  if (auth_enabled || insecure_no_auth || is_loopback_host(host)) return Status::ok();
  return failed_precondition("refusing to serve " + std::string(what) + " on " + std::string(host) +
                             " without authentication: anyone who can reach it could push, deploy and delete. "
                             "Pass --auth to require tokens (recommended), listen on 127.0.0.1, or pass "
                             "--insecure-no-auth if something in front of the server already authenticates");
}

Result<std::optional<std::filesystem::path>> ensure_admin_token(KeyStore& keys, const std::filesystem::path& data_dir,
                                                                const Clock& clock) {
  QUIVER_ASSIGN_OR_RETURN(auto records, keys.list());
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall_now().time_since_epoch()).count();
  for (const auto& r : records) {
    if (r.role == "admin" && !r.revoked_at && (!r.expires_at_ms || *r.expires_at_ms > now_ms))
      return std::optional<std::filesystem::path>();
  }
  NewKey admin;
  admin.role = Role::kAdmin;
  admin.description = records.empty() ? "first admin token, written to " + std::string(kAdminTokenFile)
                                      : "admin token written because no usable admin key was left";
  QUIVER_ASSIGN_OR_RETURN(CreatedKey created, keys.create(admin, registry::Actor{"server start", "bootstrap"}));
  const std::filesystem::path path = data_dir / kAdminTokenFile;
  if (Status st = write_private_file(path, created.token + "\n"); !st.is_ok()) {
    // Without the file nobody could use the key: take it back so the next start tries again.
    (void)keys.revoke(created.record.id, registry::Actor{"server start", "admin token file could not be written"});
    return st;
  }
  return std::optional<std::filesystem::path>(path);
}

}  // namespace quiver::auth
