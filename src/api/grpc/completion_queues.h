// CompletionQueues: the gRPC frontend's threads. One completion queue per thread and
// one thread per core (by default), each thread polling its own queue, so calls never
// wait on a queue another thread holds and the network work spreads over the cores.
//
// Every call in flight is an object (a CallTag) whose operations come back on its
// queue; LiveCalls counts those objects, so that stop() can wait for the last one
// before it shuts the queues (an operation started on a shut queue is a crash in
// gRPC, and a model may answer a call long after the server stopped accepting).
//
// Lifetime: add_to() before the server is built, start() after, stop() after the
// server's Shutdown() returned. Thread-safety: live() and queue() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <grpcpp/completion_queue.h>

namespace grpc { class ServerBuilder; }

namespace quiver::grpc_api {

// One pending operation of a call: its queue hands it back with `ok` (false: the
// operation failed, or the server is shutting down).
class CallTag {
 public:
  virtual ~CallTag() = default;
  virtual void proceed(bool ok) = 0;
};

// How many call objects exist; waits for none.
class LiveCalls {
 public:
  void added() { count_.fetch_add(1, std::memory_order_relaxed); }
  void removed();
  void wait_for_none();
  int64_t count() const { return count_.load(); }

 private:
  std::atomic<int64_t> count_{0};
  std::mutex mu_;  // only to wake wait_for_none(); taken when the count reaches zero
  std::condition_variable none_;
};

class CompletionQueues {
 public:
  CompletionQueues() = default;
  ~CompletionQueues() { stop(); }
  CompletionQueues(const CompletionQueues&) = delete;
  CompletionQueues& operator=(const CompletionQueues&) = delete;

  // Adds `count` queues to `builder` (0: one per core).
  void add_to(grpc::ServerBuilder& builder, int count);
  // One thread per queue, named quiver-grpc-N.
  void start();
  // Waits for every call object to be gone, then shuts the queues and joins the
  // threads. Precondition: the server's Shutdown() returned (no new calls come).
  // Idempotent. The queues themselves live until this object does: destroy the
  // server first.
  void stop();

  size_t size() const { return queues_.size(); }
  grpc::ServerCompletionQueue* queue(size_t i) const { return queues_[i].get(); }
  LiveCalls& live() { return live_; }

 private:
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  LiveCalls live_;
  bool stopped_ = false;
};

// The default number of queues and threads: the cores, at least one.
int default_completion_queue_threads();

}  // namespace quiver::grpc_api
