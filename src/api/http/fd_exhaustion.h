// What the HTTP listener does when file descriptors run short.
//
// Two lines of defence:
//
// 1. A reserve. The kernel hands out the lowest free descriptor number, so a socket
//    accepted as descriptor N proves descriptors 0..N-1 are all in use. When N comes
//    within descriptor_reserve() of RLIMIT_NOFILE, the connection is answered 503
//    (Retry-After: 1) and closed instead of served. The reserve keeps descriptors for
//    everything else the server must still do: gRPC's listener (which, in gRPC 1.51,
//    stops accepting for good after one EMFILE), uploads, registry writes, worker
//    processes.
// 2. When accept(2) fails anyway, with EMFILE (this process) or ENFILE (the whole
//    system), the connection stays in the listen backlog: retrying at once spins at
//    100% CPU, merely waiting leaves the client hanging. AcceptShedder keeps one spare
//    descriptor (on /dev/null); it frees it, accepts one waiting connection with it,
//    answers 503 and closes it, takes the spare back, and repeats for the connections
//    waiting (up to a bound); the caller waits kBackoff before accepting again.
//
// Connections already open are never touched and keep being served; new ones are
// served again as soon as descriptors free up.
//
// Thread-safety: one AcceptShedder per listener, used only from the acceptor's strand;
// the free functions may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>

#include <boost/asio/ip/tcp.hpp>

namespace quiver::http::detail {

// True for the accept errors that mean "no descriptor left": EMFILE, ENFILE.
bool is_out_of_descriptors(int err);

// Descriptors kept free for the rest of the server under a limit of `limit`: 64, or a
// quarter of the limit when that is smaller.
uint64_t descriptor_reserve(uint64_t limit);

// True when an accepted socket numbered `fd` means the process has no more than the
// reserve left under `limit` (RLIMIT_NOFILE's soft limit when 0).
bool descriptors_running_low(int fd, uint64_t limit = 0);

// Answers 503 "out of file descriptors" on `socket`, then closes it after a short
// linger (reading what the client sends meanwhile, so it gets the answer, not a reset).
void refuse_for_descriptors(boost::asio::ip::tcp::socket socket);

class AcceptShedder {
 public:
  AcceptShedder();  // takes the spare descriptor
  ~AcceptShedder();
  AcceptShedder(const AcceptShedder&) = delete;
  AcceptShedder& operator=(const AcceptShedder&) = delete;

  // Answers 503 to up to `max` connections waiting on `listen_fd` (a listening
  // socket) and closes them; returns how many (often 0: accept fails with EMFILE even
  // when no connection waits, since it takes the descriptor before it looks).
  int shed(int listen_fd, int max = 64);

  // Counts a refusal made through the reserve; logs refusals at most every few seconds.
  void note_refused(int count);

  // How long to wait before accepting again after accept failed for lack of descriptors.
  static constexpr std::chrono::milliseconds kBackoff{50};

 private:
  void take_spare();

  int spare_ = -1;
  uint64_t refused_total_ = 0;
  std::chrono::steady_clock::time_point last_log_{};
};

}  // namespace quiver::http::detail
