// RemoteBackend: a Backend whose model runs in a worker process of its own
// (`isolation: process`), so that a crash or an out-of-memory there touches only the
// instance it serves.
//
// One RemoteBackend = one worker process = one model instance. Requests go over a
// Unix socket with the tensor bytes in shared memory (wire.h). A monitor thread owns
// the worker: it spawns it (and, PR_SET_PDEATHSIG being tied to the spawning thread,
// keeps living while the worker does), waits for it to exit, and restarts it with
// exponential backoff (first_backoff doubling to max_backoff, back to first_backoff
// once a worker has stayed up for healthy_after). While the worker is down:
//   - the request that was in flight fails with Unavailable: "worker process of
//     model 'iris' version 2 crashed: killed by signal 9 (SIGKILL); it is restarting";
//   - later requests fail at once with Unavailable "... is restarting ..." instead of
//     waiting for it.
//
// Hangs: a worker that stays alive but does not answer (a model stuck in a loop, a
// deadlock in the runtime) is as bad as a dead one, and worse, because it holds its
// requests forever. With LoadRequest::worker_timeout_ms set, infer() waits at most
// that long for the reply; then it fails with DeadlineExceeded ("... did not answer
// within 2000 ms (worker_timeout_ms); it was killed and is restarting"), the worker is
// killed with SIGKILL (through a pidfd, so a recycled pid is never hit), and the
// monitor restarts it as after a crash. LoadRequest::on_worker_restart hears of every
// restart with its reason ("timeout", "crash" or "error").
//
// Standby: starting a worker means loading the runtime's shared libraries and
// running their initialisers, which takes about half a second of CPU before the model
// itself loads. So that a crash is repaired within the model's load time, the monitor
// keeps one started but not yet loaded worker in reserve (its process name is
// "quiver-standby"; a serving worker renames itself "quiver-worker"), costing about
// 60 MB of private memory, and gives it the model when the serving one dies. A
// standby that died meanwhile is replaced by a fresh start.
//
// Memory limit: LoadRequest::memory_limit_mb caps the worker's data segment
// (RLIMIT_DATA: heap and private writable mappings), not its address space, because
// libtorch and OpenCV reserve far more address space than they use. Shared memory for
// tensors and the code of the shared libraries do not count. Limits below
// RemoteOptions::minimum_memory_limit_mb are refused at load: the runtime alone needs
// about that much.
//
// Destruction stops the worker (SIGTERM, SIGKILL after stop_grace) and reaps it; the
// socket and the shared memory go with it.
//
// Thread-safety: infer() by one thread at a time (Backend's contract); signature(),
// worker_pid() and restarts() from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "backends/process/spawn.h"
#include "backends/process/unique_fd.h"
#include "core/status.h"

namespace quiver::backends::process {

struct RemoteOptions {
  WorkerCommand command;
  std::chrono::milliseconds first_backoff{50};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds healthy_after{10'000};
  std::chrono::milliseconds stop_grace{1000};
  int64_t minimum_memory_limit_mb = 256;
  bool keep_standby = true;
};

class RemoteBackend final : public Backend {
 public:
  // Starts the worker and waits until it has loaded the model. The worker's load
  // error comes back as is (DataLoss, InvalidArgument, ...); a worker that dies while
  // loading is Unavailable with how it died.
  static Result<std::unique_ptr<RemoteBackend>> load(const LoadRequest& request, RemoteOptions options = {});
  ~RemoteBackend() override;
  RemoteBackend(const RemoteBackend&) = delete;
  RemoteBackend& operator=(const RemoteBackend&) = delete;

  const ModelSignature& signature() const override { return signature_; }
  Result<std::vector<Tensor>> infer(const std::vector<Tensor>& inputs) override;

  // The current worker's pid; -1 while it is being restarted.
  pid_t worker_pid() const;
  // How many times a worker was started after the first.
  int64_t restarts() const { return restarts_.load(); }

 private:
  struct Connection;
  struct Worker;

  RemoteBackend(LoadRequest request, RemoteOptions options);
  void monitor_loop();
  // Gives the model to the standby when there is a live one, else to a fresh process.
  Result<Worker> launch(std::optional<SpawnedProcess>& standby);
  Result<Worker> hand_model_to(SpawnedProcess process);
  Result<std::vector<Tensor>> exchange(Connection& connection, const std::vector<Tensor>& inputs);
  Status crashed_status(uint64_t generation);
  // Kills the worker of `c` (SIGKILL) for not answering in time and takes it out of
  // service; returns the DeadlineExceeded for its request.
  Status kill_hung_worker(Connection& c);
  // Sleeps `delay` unless stopping; false when stopping.
  bool pause(std::chrono::milliseconds delay);

  const LoadRequest request_;
  const RemoteOptions options_;
  ModelSignature signature_;  // set once by the first launch, before load() returns
  UniqueFd wake_;             // eventfd: readable once the destructor wants the monitor to stop
  std::atomic<int64_t> restarts_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<Connection> connection_;  // guarded by mu_; null while (re)starting
  uint64_t generation_ = 0;                 // guarded by mu_; of the latest worker launched
  uint64_t dead_generation_ = 0;            // guarded by mu_; the latest worker seen dead
  std::string death_;                       // guarded by mu_; how it died
  std::string down_reason_;                 // guarded by mu_; why there is no connection
  uint64_t let_go_generation_ = 0;          // guarded by mu_; the latest worker infer() killed or let go
  std::string let_go_reason_;               // guarded by mu_; "timeout" or "error"
  bool first_load_done_ = false;            // guarded by mu_
  Status first_load_status_;                // guarded by mu_
  std::thread monitor_;
};

// load_backend() for LoadRequest::isolated.
Result<std::unique_ptr<Backend>> load_remote(const LoadRequest& request);

}  // namespace quiver::backends::process
