// The HTTP listener short of file descriptors (api/http/fd_exhaustion.h): the reserve
// check, the async 503, and shedding waiting connections with the spare descriptor
// under a real EMFILE (this process's RLIMIT_NOFILE lowered for the test).
#include "api/http/fd_exhaustion.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <boost/asio/io_context.hpp>

namespace quiver::http::detail {
namespace {

// A listening socket on 127.0.0.1 and its port.
int listen_socket(uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(::listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// A client connected to `port` that has sent a request.
int connected_client(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /v2/health/live HTTP/1.1\r\nHost: quiver\r\n\r\n";
  EXPECT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  return fd;
}

// What the client reads until the server closes (or 5 s pass).
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(FdExhaustionTest, TheReserveIsSixtyFourOrAQuarterOfASmallLimit) {
  EXPECT_EQ(descriptor_reserve(1024), 64u);
  EXPECT_EQ(descriptor_reserve(160), 40u);
  EXPECT_EQ(descriptor_reserve(0), 0u);
  EXPECT_FALSE(descriptors_running_low(100, 1024));
  EXPECT_FALSE(descriptors_running_low(959, 1024));
  EXPECT_TRUE(descriptors_running_low(960, 1024));
  EXPECT_TRUE(descriptors_running_low(1023, 1024));
  EXPECT_TRUE(descriptors_running_low(120, 160));
  EXPECT_FALSE(descriptors_running_low(119, 160));
}

TEST(FdExhaustionTest, ARefusedConnectionReadsA503ThatSaysWhy) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::address_v4::loopback(), 0});
  const int client = connected_client(acceptor.local_endpoint().port());
  boost::asio::ip::tcp::socket accepted(io);
  acceptor.accept(accepted);
  refuse_for_descriptors(std::move(accepted));
  io.run_for(std::chrono::seconds(2));
  const std::string answer = read_all(client);
  ::close(client);
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("out of file descriptors"), std::string::npos) << answer;
}

TEST(FdExhaustionTest, UnderARealEmfileTheSpareDescriptorAnswersTheWaitingConnections) {
  uint16_t port = 0;
  const int listener = listen_socket(port);
  AcceptShedder shedder;  // holds its spare from here on
  const int first = connected_client(port);
  const int second = connected_client(port);

  // No descriptor left: the soft limit at the lowest free number.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = ::dup(0);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);
  const int refused_fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  const int accept_errno = errno;
  const int shed = shedder.shed(listener);
  const int nothing_left = shedder.shed(listener);  // accept fails with EMFILE even with no one waiting
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);

  EXPECT_EQ(refused_fd, -1);
  EXPECT_EQ(accept_errno, EMFILE);
  EXPECT_TRUE(is_out_of_descriptors(accept_errno));
  EXPECT_EQ(shed, 2);
  EXPECT_EQ(nothing_left, 0);
  for (const int client : {first, second}) {
    const std::string answer = read_all(client);
    ::close(client);
    EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable\r\n", 0), 0u) << answer;
    EXPECT_NE(answer.find("out of file descriptors"), std::string::npos) << answer;
  }
  // The spare was taken back: the next shed still has one to lend.
  const int third = connected_client(port);
  EXPECT_EQ(shedder.shed(listener), 1);
  EXPECT_NE(read_all(third).find("503"), std::string::npos);
  ::close(third);
  ::close(listener);
}

}  // namespace
}  // namespace quiver::http::detail
