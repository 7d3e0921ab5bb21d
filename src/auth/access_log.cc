#include "auth/access_log.h"

#include <spdlog/spdlog.h>

#include <vector>

namespace quiver::auth {
namespace {

constexpr size_t kMaxBatch = 1000;

}  // namespace

AccessLog::AccessLog(registry::Registry& registry, metrics::MetricsRegistry* metrics, size_t max_queue)
    : registry_(registry), max_queue_(max_queue) {
  if (metrics != nullptr) {
    written_ = &metrics->counter("quiver_audit_records_total", "Management calls written to the audit log");
    dropped_ = &metrics->counter("quiver_audit_dropped_total",
                                 "Management-call audit records dropped because the log could not keep up or failed");
  }
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::record(registry::AccessRecord record) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && queue_.size() < max_queue_) {
      queue_.push_back(std::move(record));
      wake_.notify_one();
      return;
    }
  }
  if (dropped_) dropped_->inc();
  spdlog::error("audit log queue is full; dropped the record of {} {}", record.action, record.resource);
}

void AccessLog::flush() {
  std::unique_lock lock(mu_);
  drained_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

void AccessLog::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  drained_.notify_all();
}

void AccessLog::run() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stopping_) return;
      continue;
    }
    std::vector<registry::AccessRecord> batch;
    while (!queue_.empty() && batch.size() < kMaxBatch) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    writing_ = true;
    lock.unlock();
    Status st = registry_.append_access(batch);
    if (st.is_ok()) {
      if (written_) written_->inc(batch.size());
    } else {
      if (dropped_) dropped_->inc(batch.size());
      spdlog::error("cannot write {} management-call records to the audit log: {}", batch.size(), st.message());
    }
    lock.lock();
    writing_ = false;
    if (queue_.empty()) drained_.notify_all();
  }
}

}  // namespace quiver::auth
