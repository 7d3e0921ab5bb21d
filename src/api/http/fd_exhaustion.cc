#include "api/http/fd_exhaustion.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

namespace quiver::http::detail {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::chrono::seconds kLogEvery{5};
constexpr std::chrono::milliseconds kLinger{500};

const std::string& refusal() {
  static const std::string response = [] {
    const std::string body =
        "{\"error\": \"the server is out of file descriptors (too many open connections or files); retry later\"}";
    return "HTTP/1.1 503 Service Unavailable\r\nServer: quiver\r\nContent-Type: application/json\r\n"
           "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }();
  return response;
}

// Without blocking, for a connection accepted on the spare descriptor, which must be
// given back at once. The request bytes that already arrived are read first: closing
// a socket with unread input sends a reset, which can make the client drop the answer.
void refuse_now(int fd) {
  char scratch[16384];
  while (::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0) {
  }
  const std::string& r = refusal();
  [[maybe_unused]] const ssize_t sent = ::send(fd, r.data(), r.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

// The 503, then a drain of whatever the client still sends, for at most kLinger.
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  explicit Refusal(tcp::socket socket) : socket_(std::move(socket)), timer_(socket_.get_executor()) {}

  void start() {
    timer_.expires_after(kLinger);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) { self->close(); });
    net::async_write(socket_, net::buffer(refusal()), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) return self->close();
      boost::system::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

 private:
  void drain() {
    socket_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
      if (ec) return self->close();
      self->drain();
    });
  }
  void close() {
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::array<char, 4096> scratch_{};
};

}  // namespace

bool is_out_of_descriptors(int err) { return err == EMFILE || err == ENFILE; }

uint64_t descriptor_reserve(uint64_t limit) { return std::min<uint64_t>(64, limit / 4); }

bool descriptors_running_low(int fd, uint64_t limit) {
  if (limit == 0) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return false;
    limit = rl.rlim_cur;
  }
  return fd >= 0 && static_cast<uint64_t>(fd) + descriptor_reserve(limit) >= limit;
}

void refuse_for_descriptors(tcp::socket socket) { std::make_shared<Refusal>(std::move(socket))->start(); }

AcceptShedder::AcceptShedder() { take_spare(); }

AcceptShedder::~AcceptShedder() {
  if (spare_ >= 0) ::close(spare_);
}

void AcceptShedder::take_spare() {
  if (spare_ < 0) spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
}

int AcceptShedder::shed(int listen_fd, int max) {
  int shed = 0;
  for (; shed < max; ++shed) {
    take_spare();  // a previous round may not have got it back
    if (spare_ < 0) break;
    ::close(spare_);
    spare_ = -1;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {  // nothing waiting (EAGAIN), or another thread took the descriptor
      take_spare();
      break;
    }
    refuse_now(fd);
    take_spare();
  }
  note_refused(shed);
  return shed;
}

void AcceptShedder::note_refused(int count) {
  if (count <= 0) return;
  refused_total_ += static_cast<uint64_t>(count);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_log_ < kLogEvery) return;
  last_log_ = now;
  spdlog::warn("HTTP: file descriptors running out; {} new connection(s) answered 503 so far, open connections "
               "keep being served (raise the limit: ulimit -n / LimitNOFILE)",
               refused_total_);
}

}  // namespace quiver::http::detail
