// QualityService: the quality module's facade for the API (API.md §4): feedback joined
// to logged predictions, per-version live quality, and offline evaluations stored in
// the registry. It owns the PredictionLog (the inference path records into it), the
// QualityTracker (the rollout controller reads its counts) and one evaluation worker
// thread, so an HTTP I/O thread never waits for an evaluation.
//
// The server injects what this module may not reach itself: a blob's path (quality/
// does not depend on store/) and a way to run a version (RunVersion; `release` is
// called once after each evaluation so the server can unload a version it loaded just
// for it).
//
// A truth may be a class index, a class label (mapped through the version's `labels`,
// core/prediction_task.h), a number (regression), or an array of those, one per row
// of the logged request. A truth and a reward for one id each count once: a repeat is
// reported as "duplicate" and changes nothing.
//
// Thread-safety: all methods may be called from any thread. stop() joins the worker;
// call it before the server stops what RunVersion uses (the lifecycle manager).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/prediction_task.h"
#include "core/status.h"
#include "quality/evaluation.h"
#include "quality/prediction_log.h"
#include "quality/quality_tracker.h"
#include "registry/registry.h"

namespace quiver::metrics {
class Counter;
class MetricsRegistry;
}  // namespace quiver::metrics

namespace quiver::quality {

struct QualityOptions {
  PredictionLogOptions log;
  EvaluationOptions evaluation;
  uint64_t max_dataset_bytes = 1ull << 30;  // larger blobs are refused (413)
  size_t max_queued_evaluations = 8;        // beyond this, 429
};

// The path of a stored blob by its sha256; NotFound when absent.
using BlobPath = std::function<Result<std::filesystem::path>(const std::string& sha256)>;
using ReleaseVersion = std::function<void(const std::string& model, int64_t version)>;

struct FeedbackSummary {
  uint64_t joined = 0, unknown = 0, expired = 0, duplicate = 0, invalid = 0;
  // Replicas: items whose prediction this replica never saw, handed to the others
  // (the replica that made the prediction joins them).
  uint64_t forwarded = 0;
  std::vector<std::string> errors;  // one per invalid item (the first 100)
};
// {"joined","unknown","expired","duplicate","invalid","forwarded"?,"errors"?}
nlohmann::json feedback_json(const FeedbackSummary& summary);

class QualityService {
 public:
  // `metrics` may be null. `release` may be empty.
  QualityService(registry::Registry& registry, BlobPath blob_path, const Clock& clock,
                 metrics::MetricsRegistry* metrics, QualityOptions options, RunVersion run,
                 ReleaseVersion release = {});
  ~QualityService();  // stop()s
  QualityService(const QualityService&) = delete;
  QualityService& operator=(const QualityService&) = delete;

  PredictionLog& predictions() { return log_; }
  QualityTracker& tracker() { return tracker_; }
  const QualityTracker& tracker() const { return tracker_; }

  // POST /v1/feedback. The body is {"model", "id", "truth" | "reward"} or
  // {"model"?, "items": [...]} (a top-level "model" is the items' default). A malformed
  // body, or a single-item body whose item is malformed, is InvalidArgument; in an
  // "items" body a malformed item counts as invalid, with its message.
  Result<FeedbackSummary> feedback(std::string_view body);

  // Replicas (cluster/feedback_relay.h): where an item whose request id this replica
  // never logged goes, with its model filled in; true when it was handed over (it is
  // then counted as forwarded, not unknown). Set before serving.
  using ForwardUnknown = std::function<bool(const nlohmann::json& item)>;
  void set_forward_unknown(ForwardUnknown forward) {
    std::lock_guard lock(forward_mu_);
    forward_unknown_ = std::move(forward);
  }
  // An item another replica forwarded: joins it here if this replica logged its
  // prediction. Returns "joined", "unknown", "expired", "duplicate" or "invalid".
  std::string join_forwarded(const nlohmann::json& item);

  // GET /v1/models/{m}/versions/{v}/quality; NotFound for an unknown model or version.
  Result<nlohmann::json> quality(const std::string& model, const std::string& version_ref);

  // POST /v1/models/{m}/versions/{v}/evaluations with {"dataset": sha256, "label"?}.
  // Checks what it can at once (body, model, version, blob) and answers those errors
  // inline; otherwise queues the evaluation and answers from the worker thread with
  // the stored report. `done` is called exactly once.
  using EvaluationDone = std::function<void(Result<nlohmann::json>)>;
  void evaluate(const std::string& model, const std::string& version_ref, std::string_view body,
                const registry::Actor& actor, EvaluationDone done);
  // GET .../evaluations: the stored reports, newest first.
  Result<nlohmann::json> evaluations(const std::string& model, const std::string& version_ref);

  // Cancels queued and running evaluations (they answer Unavailable) and joins the
  // worker. Idempotent.
  void stop();

 private:
  struct Job {
    std::function<void()> run;
    std::function<void()> cancel;
  };
  enum class ItemResult { kJoined, kUnknown, kExpired, kDuplicate, kInvalid };

  // The version's task: its metadata over the deployment's `quality:` defaults.
  PredictionTask task_for(const std::string& model, int64_t version) const;
  using TaskMemo = std::map<std::pair<std::string, int64_t>, PredictionTask>;  // per feedback request
  ItemResult feedback_item(const nlohmann::json& item, const std::string* default_model, std::string& error,
                           TaskMemo& tasks);
  Result<nlohmann::json> run_job(const std::string& model, int64_t version, const std::string& sha256,
                                 const std::filesystem::path& path, const std::optional<std::string>& label,
                                 const registry::Actor& actor);
  void worker();

  registry::Registry& registry_;
  BlobPath blob_path_;
  const Clock& clock_;
  QualityOptions options_;
  RunVersion run_;
  ReleaseVersion release_;
  PredictionLog log_;
  QualityTracker tracker_;
  metrics::Counter* m_feedback_[6] = {};  // by ItemResult, then "forwarded"
  std::mutex forward_mu_;  // set_forward_unknown may come while requests arrive
  ForwardUnknown forward_unknown_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

}  // namespace quiver::quality
