// BatchQueue: one servable's bounded request queue and its dynamic batcher.
//
// Workers (one per backend instance) call next_batch(). One worker at a time is the
// *gatherer*: it takes the oldest request, then collects later compatible requests
// (serving/batching.h) in queue order until the summed rows reach max_batch_size or
// a preferred batch size, or max_queue_delay_us has passed since the oldest request
// was queued. Only one worker gathers so that requests arriving meanwhile fill its
// batch rather than start a second, smaller one; the other workers wait for the
// next batch. Requests that do not fit stay queued, in order, for the next batch.
// With max_batch_size 1 every batch is one request and nothing waits.
//
// Deadlines: a request whose deadline passed while queued is never run; the batch
// hands it back in `expired` for the caller to answer. Gathering never waits past
// the earliest deadline of the requests already in the batch.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "core/deployment_spec.h"
#include "core/status.h"
#include "core/tensor.h"

namespace quiver::serving {

using InferDone = std::function<void(Result<std::vector<Tensor>>)>;
using SteadyClock = std::chrono::steady_clock;

struct QueuedRequest {
  std::vector<Tensor> inputs;
  InferDone done;
  SteadyClock::time_point enqueued;
  std::optional<SteadyClock::time_point> deadline;  // none: waits as long as it takes
  std::optional<int64_t> rows;  // set when batchable (serving/batching.h)
  bool counted = true;          // false for warmup and probes: not user traffic
  // Queued before the version's signature was known (an on-demand version's first
  // load): the worker checks the inputs before running it.
  bool unchecked = false;
};

struct Batch {
  std::vector<QueuedRequest> requests;  // run together in one backend call, queue order
  std::vector<QueuedRequest> expired;   // deadline passed while queued: answer, never run
  int64_t rows = 0;                     // summed rows of `requests` (1 for an unbatchable one)
};

class BatchQueue {
 public:
  // `max_queue` bounds the requests waiting (not those running).
  BatchQueue(size_t max_queue, BatchingConfig batching);

  enum class PushResult { kQueued, kFull, kClosed };
  // Queues `request` unless the queue is full or closed; on refusal `request` is left
  // untouched so the caller can answer it.
  PushResult push(QueuedRequest& request);

  // Blocks until a batch is formed (true) or the queue is closed and empty (false).
  // A returned batch may hold only expired requests. A worker passing `quit` also
  // returns false as soon as *quit is set and wake_all() is called (scaling down,
  // eviction); queued work stays for the other workers.
  bool next_batch(Batch& out, const std::atomic<bool>* quit = nullptr);

  // Wakes every idle worker so that one told to quit notices.
  void wake_all();
  // Removes and returns every queued request (to answer them when no worker will:
  // a failed on-demand load, or a stop with no instances).
  std::vector<QueuedRequest> take_all();

  // Wakes every waiter; later pushes are refused, queued requests are still handed
  // out so that accepted work is answered. Idempotent.
  void close();

  size_t size() const;

 private:
  void gather(std::unique_lock<std::mutex>& lock, Batch& out);
  bool is_preferred(int64_t rows) const;

  const size_t max_queue_;
  const BatchingConfig batching_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;    // idle workers: a batch can be started
  std::condition_variable gather_cv_;  // the gatherer: a request arrived or closing
  std::deque<QueuedRequest> queue_;    // guarded by mu_
  bool gathering_ = false;             // guarded by mu_
  bool closed_ = false;                // guarded by mu_
};

}  // namespace quiver::serving
