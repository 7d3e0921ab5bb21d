// Starting and stopping one worker process.
//
// The worker is this same binary (or the one WorkerCommand names) run as
// `EXE worker --socket-fd 3 --label LABEL`; it gets the worker end of a socket pair as
// fd 3 and nothing else (every other fd is closed before exec). It runs in its own
// process group (a Ctrl-C at the terminal reaches the server, which then stops its
// workers in order), dies by SIGKILL when the thread that spawned it exits (so
// workers never outlive the server), starts with no blocked signals, and has its data
// segment limited (RLIMIT_DATA) when a memory limit is given.
//
// PR_SET_PDEATHSIG is tied to the spawning *thread*, so spawn from a thread that lives
// as long as the worker should.
//
// Thread-safety: safe from any thread; uses fork, so between fork and exec the child
// only makes async-signal-safe system calls.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "backends/process/unique_fd.h"
#include "core/status.h"

namespace quiver::backends::process {

struct WorkerCommand {
  // The binary and the arguments before the worker's own; the binary must answer
  // `worker --socket-fd N` with worker_main().
  std::filesystem::path executable = "/proc/self/exe";
  std::vector<std::string> leading_args = {"worker"};
};

struct SpawnedProcess {
  pid_t pid = -1;
  UniqueFd socket;  // the server's end of the socket pair
  UniqueFd pidfd;   // readable once the process has exited; invalid where unsupported
};

// memory_limit_mb: 0 for none.
Result<SpawnedProcess> spawn_worker(const WorkerCommand& command, const std::string& label, int64_t memory_limit_mb);

// Waits until `pid` exits or `wake_fd` becomes readable, up to `timeout` (negative:
// no limit). Returns the wait status when the process was reaped, nothing otherwise.
std::optional<int> wait_for_exit(const SpawnedProcess& process, int wake_fd, std::chrono::milliseconds timeout);

// SIGTERM, then SIGKILL after `grace`; always reaps. Returns the wait status.
int terminate_and_reap(const SpawnedProcess& process, std::chrono::milliseconds grace);

// "killed by signal 9 (Killed)", "exited with status 1".
std::string describe_wait_status(int status);

}  // namespace quiver::backends::process
