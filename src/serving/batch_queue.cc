#include "serving/batch_queue.h"

#include <algorithm>
#include <iterator>

#include "serving/batching.h"

namespace quiver::serving {
namespace {

bool has_expired(const QueuedRequest& r, SteadyClock::time_point now) { return r.deadline && now >= *r.deadline; }

}  // namespace

BatchQueue::BatchQueue(size_t max_queue, BatchingConfig batching)
    : max_queue_(max_queue), batching_(std::move(batching)) {}

BatchQueue::PushResult BatchQueue::push(QueuedRequest& request) {
  bool wake_gatherer = false;
  {
    std::lock_guard lock(mu_);
    if (closed_) return PushResult::kClosed;
    if (queue_.size() >= max_queue_) return PushResult::kFull;
    queue_.push_back(std::move(request));
    wake_gatherer = gathering_;
  }
  if (wake_gatherer)
    gather_cv_.notify_one();
  else
    work_cv_.notify_one();
  return PushResult::kQueued;
}

bool BatchQueue::next_batch(Batch& out, const std::atomic<bool>* quit) {
  out.requests.clear();
  out.expired.clear();
  out.rows = 0;
  std::unique_lock lock(mu_);
  const auto told_to_quit = [quit] { return quit && quit->load(std::memory_order_acquire); };
  work_cv_.wait(lock, [&] { return told_to_quit() || (!gathering_ && (closed_ || !queue_.empty())); });
  if (told_to_quit()) {
    // The wake-up this worker may have consumed belongs to someone else now.
    if (!queue_.empty()) work_cv_.notify_one();
    return false;
  }
  // Drain before exiting: queued requests were accepted and must be answered.
  if (queue_.empty()) return false;
  gathering_ = true;
  gather(lock, out);
  gathering_ = false;
  // Hand the gatherer's role on: to everyone when closing (so they can drain or exit),
  // otherwise to one idle worker if work is left.
  if (closed_)
    work_cv_.notify_all();
  else if (!queue_.empty())
    work_cv_.notify_one();
  return true;
}

void BatchQueue::gather(std::unique_lock<std::mutex>& lock, Batch& out) {
  const auto start = SteadyClock::now();
  while (!queue_.empty() && out.requests.empty()) {
    QueuedRequest r = std::move(queue_.front());
    queue_.pop_front();
    (has_expired(r, start) ? out.expired : out.requests).push_back(std::move(r));
  }
  if (out.requests.empty()) return;

  const auto& first_rows = out.requests.front().rows;
  const int64_t max_rows = batching_.max_batch_size;
  out.rows = first_rows.value_or(1);
  if (max_rows <= 1 || !first_rows || *first_rows >= max_rows || is_preferred(out.rows)) return;

  auto until = out.requests.front().enqueued + std::chrono::microseconds(batching_.max_queue_delay_us);
  if (out.requests.front().deadline) until = std::min(until, *out.requests.front().deadline);
  // Requests before `scan` were already found incompatible; only new arrivals are
  // appended meanwhile, since no one else takes from the queue while this gathers.
  size_t scan = 0;
  for (;;) {
    const auto now = SteadyClock::now();
    bool full = false;
    while (scan < queue_.size() && !full) {
      QueuedRequest& candidate = queue_[scan];
      if (has_expired(candidate, now)) {
        out.expired.push_back(std::move(candidate));
        queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(scan));
        continue;
      }
      if (!candidate.rows || !compatible_for_batching(out.requests.front().inputs, candidate.inputs)) {
        ++scan;
        continue;
      }
      // The oldest compatible request does not fit: stop here so that it goes first
      // in the next batch instead of being overtaken by smaller ones.
      if (out.rows + *candidate.rows > max_rows) {
        full = true;
        break;
      }
      out.rows += *candidate.rows;
      if (candidate.deadline) until = std::min(until, *candidate.deadline);
      out.requests.push_back(std::move(candidate));
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(scan));
      full = out.rows >= max_rows || is_preferred(out.rows);
    }
    if (full || closed_ || now >= until) return;
    gather_cv_.wait_until(lock, until);
  }
}

bool BatchQueue::is_preferred(int64_t rows) const {
  return std::find(batching_.preferred_batch_sizes.begin(), batching_.preferred_batch_sizes.end(), rows) !=
         batching_.preferred_batch_sizes.end();
}

void BatchQueue::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  work_cv_.notify_all();
  gather_cv_.notify_all();
}

void BatchQueue::wake_all() {
  { std::lock_guard lock(mu_); }  // a waiter between its predicate check and its wait sees the flag
  work_cv_.notify_all();
}

std::vector<QueuedRequest> BatchQueue::take_all() {
  std::lock_guard lock(mu_);
  std::vector<QueuedRequest> out(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

size_t BatchQueue::size() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace quiver::serving
