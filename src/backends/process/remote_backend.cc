#include "backends/process/remote_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <spdlog/spdlog.h>

#include "backends/process/shared_buffer.h"
#include "backends/process/wire.h"

namespace quiver::backends::process {

struct RemoteBackend::Connection {
  uint64_t generation = 0;
  pid_t pid = -1;
  UniqueFd pidfd;  // a duplicate of the process's, to kill exactly it; invalid where unsupported
  UniqueFd socket;
  SharedBuffer requests;  // written here, read by the worker
  SharedBuffer replies;   // written by the worker, read here
};

struct RemoteBackend::Worker {
  SpawnedProcess process;  // its socket has moved into `connection`
  std::shared_ptr<Connection> connection;
  ModelSignature signature;
};

namespace {

// How long a request whose worker vanished waits for the monitor to learn how it
// died, to say so in the error. The exit is observed within milliseconds.
constexpr std::chrono::milliseconds kDeathReportWait{1000};

std::string label_of(const LoadRequest& request) {
  return request.label.empty() ? "model " + request.artifact_path.filename().string() : request.label;
}

// "crashed: killed by signal 9 (SIGKILL)" or "stopped unexpectedly: exited with status 1".
std::string death_phrase(int wait_status) {
  return (WIFSIGNALED(wait_status) ? "crashed: " : "stopped unexpectedly: ") + describe_wait_status(wait_status);
}

// True when `fd` is readable (or closed, or in error) within `timeout`; false when
// the time passed first.
bool readable_within(int fd, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd pfd{fd, POLLIN, 0};
    const int n = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left, 60'000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return true;  // let the read report the problem
  }
}

// SIGKILL to exactly this process: through its pidfd when there is one (a pid may be
// recycled once the monitor has reaped it; a pidfd never is).
void kill_process(const UniqueFd& pidfd, pid_t pid) {
#ifdef SYS_pidfd_send_signal
  if (pidfd.valid()) {
    if (::syscall(SYS_pidfd_send_signal, pidfd.get(), SIGKILL, nullptr, 0) == 0 || errno == ESRCH) return;
  }
#endif
  ::kill(pid, SIGKILL);
}

// True when `fd` is readable; false when `wake_fd` became readable first.
bool wait_readable(int fd, int wake_fd) {
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return true;  // let the read report the problem
    }
    if ((fds[1].revents & POLLIN) != 0) return false;
    if (fds[0].revents != 0) return true;
  }
}

}  // namespace

RemoteBackend::RemoteBackend(LoadRequest request, RemoteOptions options)
    : request_(std::move(request)), options_(std::move(options)) {}

Result<std::unique_ptr<RemoteBackend>> RemoteBackend::load(const LoadRequest& request, RemoteOptions options) {
  if (request.memory_limit_mb < 0) return invalid_argument("memory_limit_mb must not be negative");
  if (request.memory_limit_mb > 0 && request.memory_limit_mb < options.minimum_memory_limit_mb) {
    return invalid_argument("memory_limit_mb " + std::to_string(request.memory_limit_mb) + " of " +
                            label_of(request) + " is below the " + std::to_string(options.minimum_memory_limit_mb) +
                            " MB a worker process needs for the model runtime itself");
  }
  std::unique_ptr<RemoteBackend> backend(new RemoteBackend(request, std::move(options)));
  backend->wake_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!backend->wake_.valid()) return resource_exhausted(std::string("cannot create an eventfd: ") + std::strerror(errno));
  backend->monitor_ = std::thread([raw = backend.get()] { raw->monitor_loop(); });

  std::unique_lock lock(backend->mu_);
  backend->cv_.wait(lock, [&] { return backend->first_load_done_; });
  Status status = backend->first_load_status_;
  lock.unlock();
  if (!status.is_ok()) return status;  // the monitor has returned; the destructor joins it
  return backend;
}

RemoteBackend::~RemoteBackend() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
  if (monitor_.joinable()) monitor_.join();
}

pid_t RemoteBackend::worker_pid() const {
  std::lock_guard lock(mu_);
  return connection_ ? connection_->pid : -1;
}

bool RemoteBackend::pause(std::chrono::milliseconds delay) {
  pollfd wake{wake_.get(), POLLIN, 0};
  return ::poll(&wake, 1, static_cast<int>(delay.count())) == 0;
}

Result<RemoteBackend::Worker> RemoteBackend::launch(std::optional<SpawnedProcess>& standby) {
  std::optional<SpawnedProcess> process = std::move(standby);
  standby.reset();
  if (process && wait_for_exit(*process, -1, std::chrono::milliseconds(0))) process.reset();  // it died waiting
  if (!process) {
    QUIVER_ASSIGN_OR_RETURN(process, spawn_worker(options_.command, label_of(request_), request_.memory_limit_mb));
  }
  return hand_model_to(std::move(*process));
}

Result<RemoteBackend::Worker> RemoteBackend::hand_model_to(SpawnedProcess process) {
  const std::string label = label_of(request_);
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    generation = ++generation_;
  }
  Worker worker;
  worker.connection = std::make_shared<Connection>();
  Connection& c = *worker.connection;
  c.generation = generation;
  c.pid = process.pid;
  if (process.pidfd.valid()) c.pidfd.reset(::fcntl(process.pidfd.get(), F_DUPFD_CLOEXEC, 0));
  c.socket = std::move(process.socket);
  worker.process = std::move(process);
  // From here on every failure stops and reaps the process, so none is left behind.
  auto give_up = [&](Status status) -> Status {
    terminate_and_reap(worker.process, options_.stop_grace);
    return status;
  };

  auto requests = SharedBuffer::create("quiver-requests");
  if (!requests.is_ok()) return give_up(requests.status());
  auto replies = SharedBuffer::create("quiver-replies");
  if (!replies.is_ok()) return give_up(replies.status());
  c.requests = std::move(requests).value();
  c.replies = std::move(replies).value();

  LoadMessage load{request_};
  load.request.isolated = false;
  load.request.label = label;
  Status sent = send_packet(c.socket.get(), encode(load), {c.requests.fd(), c.replies.fd()});
  if (sent.is_ok() && !wait_readable(c.socket.get(), wake_.get())) return give_up(unavailable("stopping"));
  Result<std::string> packet = sent.is_ok() ? receive_packet(c.socket.get()) : Result<std::string>(sent);
  if (!packet.is_ok() && packet.status().code() == StatusCode::kUnavailable) {
    // The worker died before it answered: say how.
    const std::optional<int> exited = wait_for_exit(worker.process, -1, options_.stop_grace);
    const int status = exited ? *exited : terminate_and_reap(worker.process, options_.stop_grace);
    std::string message = "worker process of " + label + " " + death_phrase(status) + " while loading";
    if (request_.memory_limit_mb > 0) {
      message += "; its memory limit of " + std::to_string(request_.memory_limit_mb) + " MB may be too small";
    }
    return unavailable(message);
  }
  if (!packet.is_ok()) return give_up(packet.status());
  auto loaded = decode_loaded(*packet);
  if (!loaded.is_ok()) return give_up(loaded.status());
  if (!loaded->status.is_ok()) return give_up(loaded->status);
  worker.signature = std::move(loaded->signature);
  return worker;
}

void RemoteBackend::monitor_loop() {
  const std::string label = label_of(request_);
  std::optional<SpawnedProcess> standby;
  // Every way out of the loop stops the standby too.
  struct StandbyStopper {
    std::optional<SpawnedProcess>& standby;
    std::chrono::milliseconds grace;
    ~StandbyStopper() {
      if (standby) terminate_and_reap(*standby, grace);
    }
  } stopper{standby, options_.stop_grace};

  auto backoff = options_.first_backoff;
  bool first = true;
  for (;;) {
    auto worker = launch(standby);
    if (!worker.is_ok()) {
      if (first) {
        std::lock_guard lock(mu_);
        first_load_done_ = true;
        first_load_status_ = worker.status();
        cv_.notify_all();
        return;
      }
      spdlog::error("worker process of {} failed to restart: {}; next attempt in {} ms", label,
                    worker.status().message(), backoff.count());
      {
        std::lock_guard lock(mu_);
        down_reason_ = "is restarting (the last attempt failed: " + worker.status().message() + ")";
      }
      if (!pause(backoff)) return;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    {
      std::lock_guard lock(mu_);
      if (first) {
        signature_ = worker->signature;
        first_load_done_ = true;
      } else {
        restarts_.fetch_add(1);
        spdlog::info("worker process of {} is back (pid {})", label, worker->connection->pid);
      }
      connection_ = worker->connection;
      cv_.notify_all();
    }
    first = false;
    const auto started = std::chrono::steady_clock::now();
    if (options_.keep_standby) {
      auto spare = spawn_worker(options_.command, label, request_.memory_limit_mb);
      if (spare.is_ok()) {
        standby = std::move(spare).value();
      } else {
        spdlog::warn("no standby worker process for {}: {}", label, spare.status().message());
      }
    }

    const std::optional<int> status = wait_for_exit(worker->process, wake_.get(), std::chrono::milliseconds(-1));
    if (!status) {  // the destructor asked to stop
      {
        std::lock_guard lock(mu_);
        connection_.reset();
      }
      terminate_and_reap(worker->process, options_.stop_grace);
      return;
    }
    std::string death = death_phrase(*status);
    std::string reason = "crash";
    {
      std::lock_guard lock(mu_);
      if (let_go_generation_ == worker->connection->generation) {
        reason = let_go_reason_;
        if (reason == "timeout") {
          death = "did not answer within " + std::to_string(request_.worker_timeout_ms) +
                  " ms (worker_timeout_ms) and was killed";
        }
      }
    }
    if (std::chrono::steady_clock::now() - started >= options_.healthy_after) backoff = options_.first_backoff;
    spdlog::error("worker process of {} (pid {}) {}; restarting in {} ms", label, worker->connection->pid, death,
                  backoff.count());
    {
      std::lock_guard lock(mu_);
      connection_.reset();
      dead_generation_ = worker->connection->generation;
      death_ = death;
      down_reason_ = "is restarting (it " + death + ")";
      cv_.notify_all();
    }
    if (request_.on_worker_restart) request_.on_worker_restart(reason);
    if (!pause(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

Status RemoteBackend::crashed_status(uint64_t generation) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, kDeathReportWait, [&] { return dead_generation_ >= generation; });
  const std::string label = label_of(request_);
  if (dead_generation_ >= generation) return unavailable("worker process of " + label + " " + death_ + "; it is restarting");
  return unavailable("worker process of " + label + " closed its connection; it is restarting");
}

Result<std::vector<Tensor>> RemoteBackend::infer(const std::vector<Tensor>& inputs) {
  std::shared_ptr<Connection> c;
  {
    std::lock_guard lock(mu_);
    c = connection_;
    if (!c) return unavailable("worker process of " + label_of(request_) + " " + down_reason_);
  }
  return exchange(*c, inputs);
}

Result<std::vector<Tensor>> RemoteBackend::exchange(Connection& c, const std::vector<Tensor>& inputs) {
  QUIVER_ASSIGN_OR_RETURN(auto headers, write_tensors(c.requests, inputs));
  TensorsMessage request;
  request.tensors = std::move(headers);
  Status sent = send_packet(c.socket.get(), encode(MessageKind::kInfer, request));
  if (sent.code() == StatusCode::kInvalidArgument) return sent;  // a header too large; nothing was sent
  if (sent.is_ok() && request_.worker_timeout_ms > 0 &&
      !readable_within(c.socket.get(), std::chrono::milliseconds(request_.worker_timeout_ms))) {
    return kill_hung_worker(c);
  }
  Result<std::string> packet = sent.is_ok() ? receive_packet(c.socket.get()) : Result<std::string>(sent);
  if (!packet.is_ok() && packet.status().code() == StatusCode::kUnavailable) return crashed_status(c.generation);

  // Anything else means the two sides no longer agree: closing the socket makes the
  // worker exit, and the monitor starts a fresh one.
  auto broken = [&](const Status& why) -> Status {
    {
      std::lock_guard lock(mu_);
      let_go_generation_ = c.generation;
      let_go_reason_ = "error";
    }
    ::shutdown(c.socket.get(), SHUT_RDWR);
    return internal_error("lost track of the worker process of " + label_of(request_) + " (" + why.message() +
                          "); it is restarting");
  };
  if (!packet.is_ok()) return broken(packet.status());
  auto reply = decode_tensors(MessageKind::kReply, *packet);
  if (!reply.is_ok()) return broken(reply.status());
  if (!reply->status.is_ok()) return reply->status;
  auto outputs = copy_tensors(c.replies, reply->tensors);
  if (!outputs.is_ok()) return broken(outputs.status());
  return outputs;
}

Status RemoteBackend::kill_hung_worker(Connection& c) {
  const std::string label = label_of(request_);
  const std::string waited = std::to_string(request_.worker_timeout_ms) + " ms";
  {
    std::lock_guard lock(mu_);
    let_go_generation_ = c.generation;
    let_go_reason_ = "timeout";
    // Out of service at once: the next request must not be sent to the dying worker
    // before the monitor has seen it die.
    if (connection_.get() == &c) {
      connection_.reset();
      down_reason_ = "is restarting (it did not answer within " + waited + " and was killed)";
    }
  }
  kill_process(c.pidfd, c.pid);
  spdlog::error("worker process of {} (pid {}) did not answer within {} (worker_timeout_ms); killed it", label, c.pid,
                waited);
  return deadline_exceeded("worker process of " + label + " did not answer within " + waited +
                           " (worker_timeout_ms); it was killed and is restarting");
}

Result<std::unique_ptr<Backend>> load_remote(const LoadRequest& request) {
  QUIVER_ASSIGN_OR_RETURN(auto backend, RemoteBackend::load(request));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace quiver::backends::process
