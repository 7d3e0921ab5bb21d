#include "api/grpc/completion_queues.h"

#include <pthread.h>

#include <string>

#include <grpcpp/server_builder.h>

namespace quiver::grpc_api {

void LiveCalls::removed() {
  // Only the last object takes the mutex: in service the preposted calls keep the
  // count above zero, so this is the stop path, not the per-call path.
  if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    std::lock_guard lock(mu_);
    none_.notify_all();
  }
}

void LiveCalls::wait_for_none() {
  std::unique_lock lock(mu_);
  none_.wait(lock, [&] { return count_.load(std::memory_order_acquire) == 0; });
}

int default_completion_queue_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores == 0 ? 1 : static_cast<int>(cores);
}

void CompletionQueues::add_to(grpc::ServerBuilder& builder, int count) {
  if (count <= 0) count = default_completion_queue_threads();
  for (int i = 0; i < count; ++i) queues_.push_back(builder.AddCompletionQueue());
}

void CompletionQueues::start() {
  for (size_t i = 0; i < queues_.size(); ++i) {
    threads_.emplace_back([queue = queues_[i].get(), i] {
      const std::string name = "quiver-grpc-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      void* tag = nullptr;
      bool ok = false;
      while (queue->Next(&tag, &ok)) static_cast<CallTag*>(tag)->proceed(ok);
    });
  }
}

void CompletionQueues::stop() {
  if (queues_.empty() || stopped_) return;
  stopped_ = true;
  // Calls still waiting for a model answer keep their queue busy until they finish;
  // calls posted for new requests come back failed once the server shut down.
  if (!threads_.empty()) live_.wait_for_none();
  for (auto& q : queues_) q->Shutdown();
  for (auto& t : threads_) t.join();
  threads_.clear();
  // A queue must be drained before it is destroyed; with no threads, drain it here.
  for (auto& q : queues_) {
    void* tag = nullptr;
    bool ok = false;
    while (q->Next(&tag, &ok)) static_cast<CallTag*>(tag)->proceed(ok);
  }
}

}  // namespace quiver::grpc_api
