// AccessLog: writes management-call records (registry::AccessRecord) to the audit
// chain from a background thread, in batches, so an I/O thread never waits for
// SQLite. Records keep their order. When the queue is full (the disk cannot keep up)
// a record is dropped, counted in quiver_audit_dropped_total and logged: serving
// continues; the chain itself stays intact (a dropped record is never half-written).
//
// Thread-safety: record() from any thread; flush() and stop() from any thread but
// not concurrently with each other. stop() writes what is queued, then joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>

#include "metrics/metrics_registry.h"
#include "registry/registry.h"

namespace quiver::auth {

class AccessLog {
 public:
  // `registry` (and `metrics`, when given) must outlive the log.
  AccessLog(registry::Registry& registry, metrics::MetricsRegistry* metrics, size_t max_queue = 100'000);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void record(registry::AccessRecord record);
  // Waits until everything recorded so far is written (or failed).
  void flush();
  void stop();

 private:
  void run();

  registry::Registry& registry_;
  const size_t max_queue_;
  metrics::Counter* written_ = nullptr;
  metrics::Counter* dropped_ = nullptr;

  std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable drained_;
  std::deque<registry::AccessRecord> queue_;
  bool writing_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace quiver::auth
