#include "backends/process/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace quiver::backends::process {
namespace {

constexpr int kWorkerSocketFd = 3;

std::string errno_text() { return std::strerror(errno); }

// What the child reports through the error pipe when it cannot exec.
struct ExecFailure {
  int stage;  // 1: setrlimit, 2: dup2, 3: execv
  int error;
};

// Runs in the forked child: async-signal-safe calls only, no allocation. On success
// the exec closes `error_pipe` (close-on-exec), which the parent reads as end-of-file.
[[noreturn]] void exec_worker(pid_t server, int socket, int error_pipe, const char* executable, char* const* argv,
                              int64_t memory_limit_mb) {
  auto fail = [&error_pipe](int stage) {
    const ExecFailure failure{stage, errno};
    [[maybe_unused]] const ssize_t n = ::write(error_pipe, &failure, sizeof failure);
    ::_exit(127);
  };
  if (error_pipe == kWorkerSocketFd) error_pipe = ::fcntl(error_pipe, F_DUPFD_CLOEXEC, kWorkerSocketFd + 1);
  ::setpgid(0, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != server) ::_exit(127);  // the server died before prctl took effect
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the server blocks SIGTERM in every thread
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &dfl, nullptr);
  if (memory_limit_mb > 0) {
    const rlim_t bytes = static_cast<rlim_t>(memory_limit_mb) * 1024 * 1024;
    const rlimit limit{bytes, bytes};
    if (::setrlimit(RLIMIT_DATA, &limit) != 0) fail(1);
  }
  if (socket == kWorkerSocketFd) {
    ::fcntl(socket, F_SETFD, 0);
  } else if (::dup2(socket, kWorkerSocketFd) < 0) {
    fail(2);
  }
#ifdef SYS_close_range
  // Fds opened without O_CLOEXEC stay behind; the error pipe is close-on-exec already.
  if (error_pipe > kWorkerSocketFd + 1) ::syscall(SYS_close_range, kWorkerSocketFd + 1, error_pipe - 1, 0);
  ::syscall(SYS_close_range, error_pipe + 1, ~0U, 0);
#endif
  ::execv(executable, argv);
  fail(3);
  ::_exit(127);
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    ::fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return static_cast<int>(fd);
  }
#endif
  return -1;  // old kernel: wait_for_exit polls instead
}

}  // namespace

Result<SpawnedProcess> spawn_worker(const WorkerCommand& command, const std::string& label, int64_t memory_limit_mb) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return resource_exhausted("cannot create the worker socket: " + errno_text());
  }
  UniqueFd server_end(pair[0]);
  UniqueFd worker_end(pair[1]);

  // Everything the child needs is built before fork: it must not allocate.
  std::vector<std::string> args;
  args.push_back(command.executable.string());
  args.insert(args.end(), command.leading_args.begin(), command.leading_args.end());
  for (const char* a : {"--socket-fd", "3", "--label"}) args.emplace_back(a);
  args.push_back(label);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return resource_exhausted("cannot create a pipe: " + errno_text());
  UniqueFd error_read(pipe_fds[0]);
  UniqueFd error_write(pipe_fds[1]);

  const pid_t server = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return resource_exhausted("cannot start a worker process: fork: " + errno_text());
  if (pid == 0) {
    exec_worker(server, worker_end.get(), error_write.get(), args[0].c_str(), argv.data(), memory_limit_mb);
  }
  error_write.reset();
  worker_end.reset();  // only the child holds it now, so the child's death is end-of-file

  ExecFailure failure{};
  ssize_t n = 0;
  do {
    n = ::read(error_read.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    static constexpr const char* kStages[] = {"", "setting its memory limit", "passing it the socket", "running"};
    const int stage = failure.stage >= 1 && failure.stage <= 3 ? failure.stage : 3;
    return unavailable(std::string("cannot start a worker process: ") + kStages[stage] + " " +
                       (stage == 3 ? command.executable.string() + " " : std::string()) +
                       "failed: " + std::strerror(failure.error));
  }

  SpawnedProcess process;
  process.pid = pid;
  process.socket = std::move(server_end);
  process.pidfd = UniqueFd(open_pidfd(pid));
  return process;
}

std::optional<int> wait_for_exit(const SpawnedProcess& process, int wake_fd, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(process.pid, &status, WNOHANG);
    if (r == process.pid) return status;
    if (r < 0 && errno != EINTR) return 0;  // not our child any more (cannot happen when used as documented)
    int wait_ms = -1;
    if (timeout.count() >= 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      wait_ms = static_cast<int>(std::min<int64_t>(left, 60'000));
    }
    if (!process.pidfd.valid()) wait_ms = wait_ms < 0 ? 20 : std::min(wait_ms, 20);
    pollfd fds[2] = {{wake_fd, POLLIN, 0}, {process.pidfd.get(), POLLIN, 0}};
    ::poll(fds, 2, wait_ms);  // negative fds are skipped
    if (wake_fd >= 0 && (fds[0].revents & POLLIN) != 0) {
      if (::waitpid(process.pid, &status, WNOHANG) == process.pid) return status;
      return std::nullopt;
    }
  }
}

int terminate_and_reap(const SpawnedProcess& process, std::chrono::milliseconds grace) {
  ::kill(process.pid, SIGTERM);
  if (auto status = wait_for_exit(process, -1, grace)) return *status;
  ::kill(-process.pid, SIGKILL);  // the whole group, in case the worker started helpers
  ::kill(process.pid, SIGKILL);
  int status = 0;
  while (::waitpid(process.pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* abbrev = ::sigabbrev_np(sig);
    return "killed by signal " + std::to_string(sig) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "stopped (wait status " + std::to_string(status) + ")";
}

}  // namespace quiver::backends::process
