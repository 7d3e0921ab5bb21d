#include "cli/bench_load.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

namespace quiver::cli {
namespace {

namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

// The pause before reconnecting after a failed connect, so that a server that is
// down is reported as errors without a busy loop.
constexpr auto kReconnectPause = std::chrono::milliseconds(10);

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

Result<Address> resolve(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return unavailable(fmt::format("cannot resolve host '{}': {}", host, ::gai_strerror(rc)));
  }
  Address out;
  std::memcpy(&out.storage, found->ai_addr, found->ai_addrlen);
  out.length = found->ai_addrlen;
  out.family = found->ai_family;
  ::freeaddrinfo(found);
  return out;
}

// What one request came to: an HTTP status, or the kind of failure.
struct Outcome {
  int status = 0;     // 0 when no answer came
  std::string error;  // set when status is 0
};

// One keep-alive connection over a blocking socket. Blocking calls with
// SO_RCVTIMEO/SO_SNDTIMEO keep a request to two system calls in the common case.
class Connection {
 public:
  Connection(const Address& address, std::chrono::milliseconds timeout)
      : address_(address), timeout_(timeout), buffer_(64 * 1024) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  bool is_open() const { return fd_ >= 0; }

  // "" on success, else the error category.
  std::string open() {
    fd_ = ::socket(address_.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fmt::format("socket: {}", std::strerror(errno));
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds connect() too
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address_.storage), address_.length) != 0) {
      const int err = errno;
      close();
      if (err == EINPROGRESS || err == EAGAIN) return "timeout";
      if (err == ECONNREFUSED) return "connection refused";
      return fmt::format("connect: {}", std::strerror(err));
    }
    buffered_ = 0;
    return {};
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  Outcome exchange(const std::string& request) {
    size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errno == EAGAIN ? "timeout" : fmt::format("send: {}", std::strerror(errno)));
      }
      sent += static_cast<size_t>(n);
    }
    return read_answer();
  }

 private:
  Outcome fail(std::string error) {
    close();
    return {0, std::move(error)};
  }

  Outcome read_answer() {
    http::response_parser<http::string_body> parser;
    parser.eager(true);
    parser.body_limit(uint64_t{1} << 30);
    while (true) {
      if (buffered_ > 0) {
        boost::beast::error_code ec;
        const size_t used = parser.put(boost::asio::buffer(buffer_.data(), buffered_), ec);
        if (used > 0) {
          std::memmove(buffer_.data(), buffer_.data() + used, buffered_ - used);
          buffered_ -= used;
        }
        if (ec && ec != http::error::need_more) return fail(fmt::format("bad answer: {}", ec.message()));
        if (parser.is_done()) break;
        // A parser that used nothing wants more bytes than are buffered.
        if (!ec && used > 0) continue;
      }
      if (buffered_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
      const ssize_t n = ::recv(fd_, buffer_.data() + buffered_, buffer_.size() - buffered_, 0);
      if (n == 0) return fail("connection closed");
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errno == EAGAIN ? "timeout" : fmt::format("recv: {}", std::strerror(errno)));
      }
      buffered_ += static_cast<size_t>(n);
    }
    const auto& message = parser.get();
    if (!message.keep_alive()) close();
    return {static_cast<int>(message.result_int()), {}};
  }

  const Address& address_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::vector<char> buffer_;
  size_t buffered_ = 0;
};

struct WorkerResult {
  std::vector<int64_t> latencies_ns;
  int64_t ok = 0;
  std::map<std::string, int64_t> errors;
};

// State shared by the workers of one run.
struct Schedule {
  Clock::time_point start;          // warmup begins
  Clock::time_point measure_start;  // warmup ends
  Clock::time_point end;            // no request starts at or after this
  Clock::duration interval{0};      // fixed-rate mode: time between due requests
  int64_t max_requests = 0;
  std::atomic<int64_t> next_slot{0};
  std::atomic<int64_t> measured_started{0};
  std::atomic<bool> stop{false};
};

// The HTTP/1.1 sender: one keep-alive connection, reopened before a request when
// the server closed it (not timed, as a persistent client would have it open).
class HttpSender final : public RequestSender {
 public:
  HttpSender(const Address& address, const std::string& request, std::chrono::milliseconds timeout)
      : connection_(address, timeout), request_(request) {}

  RequestOutcome prepare() override {
    if (connection_.is_open()) return {true, {}, false};
    std::string error = connection_.open();
    if (error.empty()) return {true, {}, false};
    return {false, std::move(error), true};
  }

  RequestOutcome send() override {
    const Outcome outcome = connection_.exchange(request_);
    if (outcome.status >= 200 && outcome.status < 300) return {true, {}, false};
    if (outcome.status != 0) return {false, fmt::format("HTTP {}", outcome.status), false};
    return {false, outcome.error, false};
  }

 private:
  Connection connection_;
  const std::string& request_;
};

void run_worker(RequestSender& sender, Schedule& schedule, WorkerResult& result) {
  const bool fixed_rate = schedule.interval.count() > 0;
  while (!schedule.stop.load(std::memory_order_relaxed)) {
    Clock::time_point due = Clock::now();
    if (fixed_rate) {
      const int64_t slot = schedule.next_slot.fetch_add(1, std::memory_order_relaxed);
      due = schedule.start + slot * schedule.interval;
      if (due >= schedule.end) break;
      std::this_thread::sleep_until(due);
    } else if (due >= schedule.end) {
      break;
    }
    const bool measured = due >= schedule.measure_start;
    if (measured && schedule.max_requests > 0 &&
        schedule.measured_started.fetch_add(1, std::memory_order_relaxed) >= schedule.max_requests) {
      schedule.stop.store(true, std::memory_order_relaxed);
      break;
    }
    const RequestOutcome ready = sender.prepare();
    if (!ready.ok) {
      if (measured) ++result.errors[ready.error];
      std::this_thread::sleep_for(kReconnectPause);
      continue;
    }
    const Clock::time_point sent_at = fixed_rate ? due : Clock::now();
    const RequestOutcome outcome = sender.send();
    const Clock::time_point answered_at = Clock::now();
    if (measured) {
      if (outcome.ok) {
        ++result.ok;
        result.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(answered_at - sent_at).count());
      } else {
        ++result.errors[outcome.error];
      }
    }
    if (!outcome.ok && outcome.back_off) std::this_thread::sleep_for(kReconnectPause);
  }
}

}  // namespace

std::string build_http_request(const LoadTarget& target) {
  std::string out = fmt::format("POST {} HTTP/1.1\r\n", target.target);
  if (target.host.find(':') != std::string::npos) {
    out += fmt::format("Host: [{}]:{}\r\n", target.host, target.port);
  } else {
    out += fmt::format("Host: {}:{}\r\n", target.host, target.port);
  }
  out += "User-Agent: quiver-bench/0.1\r\n";
  for (const auto& [name, value] : target.headers) out += fmt::format("{}: {}\r\n", name, value);
  out += fmt::format("Content-Length: {}\r\n\r\n", target.body.size());
  out += target.body;
  return out;
}

Result<LevelResult> run_load_with(const SenderFactory& make_sender, const LoadOptions& options) {
  if (options.connections < 1) return invalid_argument("the load needs at least one connection");
  if (options.rate < 0) return invalid_argument("the request rate must not be negative");
  // Senders are made before the clock starts, so connection setup is not measured.
  std::vector<std::unique_ptr<RequestSender>> senders;
  senders.reserve(static_cast<size_t>(options.connections));
  for (int i = 0; i < options.connections; ++i) senders.push_back(make_sender());

  Schedule schedule;
  schedule.start = Clock::now();
  schedule.measure_start = schedule.start + std::chrono::duration_cast<Clock::duration>(options.warmup);
  schedule.end = schedule.measure_start + std::chrono::duration_cast<Clock::duration>(options.duration);
  schedule.max_requests = options.max_requests;
  if (options.rate > 0) {
    schedule.interval = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / options.rate));
    if (schedule.interval.count() <= 0) schedule.interval = Clock::duration(1);
  }

  std::vector<WorkerResult> results(senders.size());
  {
    std::vector<std::jthread> workers;
    workers.reserve(results.size());
    for (size_t i = 0; i < results.size(); ++i) {
      results[i].latencies_ns.reserve(1 << 14);
      workers.emplace_back([&, i] { run_worker(*senders[i], schedule, results[i]); });
    }
  }  // joins
  const auto finished = Clock::now();

  LevelResult level;
  level.concurrency = options.connections;
  level.target_rate = options.rate;
  level.batch = options.batch;
  level.elapsed_s = std::chrono::duration<double>(finished - schedule.measure_start).count();
  std::vector<int64_t> latencies;
  for (auto& result : results) {
    level.ok += result.ok;
    latencies.insert(latencies.end(), result.latencies_ns.begin(), result.latencies_ns.end());
    for (const auto& [error, count] : result.errors) {
      level.error_breakdown[error] += count;
      level.errors += count;
    }
  }
  level.latency = summarize_latencies(latencies);
  return level;
}

Result<LevelResult> run_load(const LoadTarget& target, const LoadOptions& options) {
  QUIVER_ASSIGN_OR_RETURN(const Address address, resolve(target.host, target.port));
  const std::string request = build_http_request(target);
  return run_load_with(
      [&]() -> std::unique_ptr<RequestSender> {
        return std::make_unique<HttpSender>(address, request, options.request_timeout);
      },
      options);
}

}  // namespace quiver::cli
