#include "quality/quality_service.h"

#include <cmath>
#include <fstream>

#include "metrics/metrics_registry.h"
#include "registry/deployment_spec_json.h"

namespace quiver::quality {
namespace {

using nlohmann::json;

constexpr size_t kMaxErrorMessages = 100;
constexpr const char* kResultNames[] = {"joined", "unknown", "expired", "duplicate", "invalid", "forwarded"};

bool is_sha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// One row's truth from JSON: a number or a label string.
Result<Truth> truth_of(const json& v) {
  auto t = truth_from_json(v);
  if (!t)
    return invalid_argument("'truth' must be a class index, a class label, a number, or an array of those (one per "
                            "row), not " + std::string(v.type_name()));
  return *t;
}

Result<std::vector<Truth>> truths_of(const json& v, size_t rows) {
  std::vector<Truth> out;
  if (v.is_array()) {
    if (v.size() != rows)
      return invalid_argument("'truth' has " + std::to_string(v.size()) + " values, but the request had " +
                              std::to_string(rows) + " row(s)");
    for (const auto& e : v) {
      QUIVER_ASSIGN_OR_RETURN(Truth t, truth_of(e));
      out.push_back(std::move(t));
    }
    return out;
  }
  if (rows != 1)
    return invalid_argument("the request had " + std::to_string(rows) + " rows: 'truth' must be an array of " +
                            std::to_string(rows) + " values");
  QUIVER_ASSIGN_OR_RETURN(Truth t, truth_of(v));
  out.push_back(std::move(t));
  return out;
}

// A report with nothing in it yet, shaped by what the version declares.
QualityReport empty_report(const PredictionTask& task, const registry::VersionRecord& record) {
  QualityAccumulator acc;
  TaskKind kind = task.kind;
  const auto& outputs = record.signature.outputs;
  const TensorSpec* out = nullptr;
  for (const auto& o : outputs)
    if (o.name == task.output || (task.output.empty() && !out)) out = &o;
  if (out) {
    if (auto k = resolve_kind(task.kind, out->shape); k.is_ok()) kind = *k;
    if (kind == TaskKind::kClassification && out->shape.size() == 2 && out->shape[1] > 1)
      acc.ensure_classes(static_cast<size_t>(out->shape[1]));
  }
  if (kind == TaskKind::kClassification && !task.labels.empty()) acc.ensure_classes(task.labels.size());
  (void)acc.set_task(kind);
  return acc.report(task.labels);
}

}  // namespace

json feedback_json(const FeedbackSummary& s) {
  json j = {{"joined", s.joined}, {"unknown", s.unknown}, {"expired", s.expired},
            {"duplicate", s.duplicate}, {"invalid", s.invalid}};
  if (s.forwarded > 0) j["forwarded"] = s.forwarded;
  if (!s.errors.empty()) j["errors"] = s.errors;
  return j;
}

QualityService::QualityService(registry::Registry& registry, BlobPath blob_path, const Clock& clock,
                               metrics::MetricsRegistry* metrics, QualityOptions options, RunVersion run,
                               ReleaseVersion release)
    : registry_(registry),
      blob_path_(std::move(blob_path)),
      clock_(clock),
      options_(options),
      run_(std::move(run)),
      release_(std::move(release)),
      log_(clock, options.log, metrics),
      tracker_(metrics) {
  if (metrics)
    for (int i = 0; i < 6; ++i)
      m_feedback_[i] = &metrics->counter("quiver_feedback_total",
                                         "Feedback items by how they joined the prediction log",
                                         {{"result", kResultNames[i]}});
  thread_ = std::thread([this] { worker(); });
}

QualityService::~QualityService() { stop(); }

void QualityService::stop() {
  std::deque<Job> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    cancel_ = true;
    left.swap(jobs_);
  }
  cv_.notify_all();
  for (auto& job : left) job.cancel();
  if (thread_.joinable()) thread_.join();
}

void QualityService::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job.run();
  }
}

PredictionTask QualityService::task_for(const std::string& model, int64_t version) const {
  PredictionTask defaults;
  if (auto dep = registry_.current_deployment(model); dep.is_ok() && dep->has_value()) {
    if (auto spec = registry::parse_deployment_spec((*dep)->spec_json); spec.is_ok() && spec->quality)
      defaults = *spec->quality;
  }
  auto record = registry_.get_version(model, version);
  if (!record.is_ok()) return defaults;
  return prediction_task_from_metadata(record->metadata, defaults);
}

// --- feedback ---

QualityService::ItemResult QualityService::feedback_item(const json& item, const std::string* default_model,
                                                         std::string& error, TaskMemo& tasks) {
  auto invalid = [&](std::string message) {
    error = std::move(message);
    return ItemResult::kInvalid;
  };
  if (!item.is_object()) return invalid("must be an object {\"model\", \"id\", \"truth\" | \"reward\"}");
  std::string model;
  if (item.contains("model")) {
    if (!item["model"].is_string()) return invalid("'model' must be a string");
    model = item["model"].get<std::string>();
  } else if (default_model) {
    model = *default_model;
  } else {
    return invalid("'model' is required");
  }
  if (!item.contains("id") || !item["id"].is_string() || item["id"].get_ref<const std::string&>().empty())
    return invalid("'id' (the inference request's id) is required as a non-empty string");
  const std::string& id = item["id"].get_ref<const std::string&>();
  const bool has_truth = item.contains("truth") && !item["truth"].is_null();
  const bool has_reward = item.contains("reward") && !item["reward"].is_null();
  if (!has_truth && !has_reward) return invalid("needs 'truth' or 'reward'");
  double reward = 0;
  if (has_reward) {
    if (!item["reward"].is_number() || !std::isfinite(item["reward"].get<double>()))
      return invalid("'reward' must be a finite number");
    reward = item["reward"].get<double>();
  }

  LoggedPrediction logged;
  switch (log_.lookup(model, id, &logged)) {
    case LookupResult::kUnknown: return ItemResult::kUnknown;
    case LookupResult::kExpired: return ItemResult::kExpired;
    case LookupResult::kFound: break;
  }
  const Prediction& p = logged.prediction;
  std::vector<int64_t> classes;
  std::vector<double> values;
  if (has_truth) {
    auto truths = truths_of(item["truth"], p.rows());
    if (!truths.is_ok()) return invalid(truths.status().message());
    auto key = std::make_pair(model, logged.version);
    auto it = tasks.find(key);
    if (it == tasks.end()) it = tasks.emplace(key, task_for(model, logged.version)).first;
    for (size_t r = 0; r < truths->size(); ++r) {
      const std::string row = truths->size() > 1 ? "row " + std::to_string(r) + ": " : "";
      if (p.kind == TaskKind::kClassification) {
        auto c = truth_class((*truths)[r], it->second.labels, p.num_classes);
        if (!c.is_ok()) return invalid(row + c.status().message());
        classes.push_back(*c);
      } else {
        auto v = truth_value((*truths)[r]);
        if (!v.is_ok()) return invalid(row + v.status().message());
        values.push_back(*v);
      }
    }
  }

  const auto claimed = log_.claim(model, id, logged.seq, has_truth, has_reward);
  if (!claimed.truth && !claimed.reward) return ItemResult::kDuplicate;
  if (claimed.truth) {
    if (p.kind == TaskKind::kClassification)
      tracker_.add_classification(model, logged.version, p.classes, classes, p.num_classes);
    else
      tracker_.add_regression(model, logged.version, p.values, values);
  }
  if (claimed.reward) tracker_.add_reward(model, logged.version, p.kind, reward);
  return ItemResult::kJoined;
}

Result<FeedbackSummary> QualityService::feedback(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return invalid_argument("the feedback body is not valid JSON");
  if (!j.is_object())
    return invalid_argument("the feedback body must be an object: {\"model\", \"id\", \"truth\" | \"reward\"} or "
                            "{\"items\": [...]}");
  std::optional<std::string> default_model;
  if (j.contains("model")) {
    if (!j["model"].is_string()) return invalid_argument("'model' must be a string");
    default_model = j["model"].get<std::string>();
  }
  TaskMemo tasks;  // each version's task looked up once per request
  FeedbackSummary s;
  ForwardUnknown forward_unknown;
  {
    std::lock_guard lock(forward_mu_);
    forward_unknown = forward_unknown_;
  }
  auto count = [&](ItemResult r, const std::string& error, const std::string& where, const json& item) {
    if (r == ItemResult::kUnknown && forward_unknown) {
      json forwarded = item;
      if (!forwarded.contains("model") && default_model) forwarded["model"] = *default_model;
      if (forward_unknown(forwarded)) {
        ++s.forwarded;
        if (auto* c = m_feedback_[5]) c->inc();
        return;
      }
    }
    switch (r) {
      case ItemResult::kJoined: ++s.joined; break;
      case ItemResult::kUnknown: ++s.unknown; break;
      case ItemResult::kExpired: ++s.expired; break;
      case ItemResult::kDuplicate: ++s.duplicate; break;
      case ItemResult::kInvalid:
        ++s.invalid;
        if (s.errors.size() < kMaxErrorMessages) s.errors.push_back(where + error);
        break;
    }
    if (auto* c = m_feedback_[static_cast<int>(r)]) c->inc();
  };
  if (j.contains("items")) {
    if (!j["items"].is_array()) return invalid_argument("'items' must be an array of feedback items");
    if (j.contains("id") || j.contains("truth") || j.contains("reward"))
      return invalid_argument("a body with 'items' takes 'id', 'truth' and 'reward' inside each item");
    const std::string* dm = default_model ? &*default_model : nullptr;
    for (size_t i = 0; i < j["items"].size(); ++i) {
      std::string error;
      const ItemResult r = feedback_item(j["items"][i], dm, error, tasks);
      count(r, error, "items[" + std::to_string(i) + "]: ", j["items"][i]);
    }
  } else {
    std::string error;
    const ItemResult r = feedback_item(j, nullptr, error, tasks);
    if (r == ItemResult::kInvalid) {
      if (auto* c = m_feedback_[static_cast<int>(r)]) c->inc();
      return invalid_argument("invalid feedback: " + error);
    }
    count(r, error, "", j);
  }
  tracker_.publish_gauges();
  return s;
}

std::string QualityService::join_forwarded(const json& item) {
  TaskMemo tasks;
  std::string error;
  const ItemResult r = feedback_item(item, nullptr, error, tasks);
  if (r == ItemResult::kJoined) {
    if (auto* c = m_feedback_[static_cast<int>(r)]) c->inc();
    tracker_.publish_gauges();
  }
  return kResultNames[static_cast<int>(r)];
}

// --- quality ---

Result<json> QualityService::quality(const std::string& model, const std::string& version_ref) {
  QUIVER_ASSIGN_OR_RETURN(int64_t version, registry_.resolve(model, version_ref));
  QUIVER_ASSIGN_OR_RETURN(auto record, registry_.get_version(model, version));
  const PredictionTask task = task_for(model, version);
  auto report = tracker_.report(model, version, task.labels);
  json j = report_json(report ? *report : empty_report(task, record));
  j["model"] = model;
  j["version"] = version;
  return j;
}

// --- evaluations ---

void QualityService::evaluate(const std::string& model, const std::string& version_ref, std::string_view body,
                              const registry::Actor& actor, EvaluationDone done) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return done(
        invalid_argument("the body must be a JSON object {\"dataset\": \"<sha256>\", \"label\"?: \"<column>\"}"));
  for (const auto& [k, v] : j.items())
    if (k != "dataset" && k != "label") return done(invalid_argument("unknown field '" + k + "'"));
  if (!j.contains("dataset") || !j["dataset"].is_string())
    return done(invalid_argument("'dataset' (the sha256 of an uploaded CSV or JSON-lines blob) is required"));
  const std::string sha = j["dataset"].get<std::string>();
  if (!is_sha256(sha)) return done(invalid_argument("'dataset' must be 64 lower-case hex characters (a sha256)"));
  std::optional<std::string> label;
  if (j.contains("label")) {
    if (!j["label"].is_string() || j["label"].get<std::string>().empty())
      return done(invalid_argument("'label' must be a non-empty string (a column or key name)"));
    label = j["label"].get<std::string>();
  }
  auto version = registry_.resolve(model, version_ref);
  if (!version.is_ok()) return done(version.status());
  if (auto record = registry_.get_version(model, *version); !record.is_ok()) return done(record.status());
  auto path = blob_path_(sha);
  if (!path.is_ok()) {
    if (path.status().code() == StatusCode::kNotFound)
      return done(not_found("dataset blob " + sha + " is not in the store; upload it with POST /v1/blobs first"));
    return done(path.status());
  }

  auto shared_done = std::make_shared<EvaluationDone>(std::move(done));
  Job job;
  job.run = [this, model, v = *version, sha, p = *path, label, actor, shared_done] {
    (*shared_done)(run_job(model, v, sha, p, label, actor));
  };
  job.cancel = [shared_done] { (*shared_done)(unavailable("the server is stopping; the evaluation did not run")); };
  bool stopping = false, full = false;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    full = jobs_.size() >= options_.max_queued_evaluations;
    if (!stopping && !full) jobs_.push_back(std::move(job));
  }
  // Answered outside the lock: a callback may do anything, even call back in.
  if (stopping) return job.cancel();
  if (full)
    return (*shared_done)(resource_exhausted("too many evaluations queued (" +
                                             std::to_string(options_.max_queued_evaluations) + "); retry later"));
  cv_.notify_one();
}

Result<json> QualityService::run_job(const std::string& model, int64_t version, const std::string& sha256,
                                     const std::filesystem::path& path, const std::optional<std::string>& label,
                                     const registry::Actor& actor) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return not_found("dataset blob " + sha256 + " cannot be read: " + ec.message());
  if (size > options_.max_dataset_bytes)
    return payload_too_large("the dataset is " + std::to_string(size) + " bytes; evaluations take at most " +
                             std::to_string(options_.max_dataset_bytes));
  std::string text;
  {
    std::ifstream in(path, std::ios::binary);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return internal_error("reading dataset blob " + sha256 + " failed");
  }
  auto dataset = parse_dataset(text, label);
  if (!dataset.is_ok()) return dataset.status().with_context("dataset " + sha256.substr(0, 12));
  text.clear();
  text.shrink_to_fit();

  QUIVER_ASSIGN_OR_RETURN(auto record, registry_.get_version(model, version));
  EvaluationTarget target;
  target.model = model;
  target.version = version;
  target.task = task_for(model, version);
  target.inputs = record.signature.inputs;
  auto outcome = run_evaluation(*dataset, target, run_, clock_, options_.evaluation, [this] { return cancel_.load(); });
  if (release_) release_(model, version);
  if (!outcome.is_ok()) return outcome.status();

  json report = evaluation_json(*outcome, target, sha256, *dataset);
  QUIVER_ASSIGN_OR_RETURN(auto stored, registry_.add_evaluation(model, version, sha256, report.dump(), actor));
  report["id"] = stored.id;
  report["created_at"] = stored.created_at;
  return report;
}

Result<json> QualityService::evaluations(const std::string& model, const std::string& version_ref) {
  QUIVER_ASSIGN_OR_RETURN(int64_t version, registry_.resolve(model, version_ref));
  QUIVER_ASSIGN_OR_RETURN(auto records, registry_.evaluations(model, version));
  json out = json::array();
  for (const auto& r : records) {
    json report = json::parse(r.report_json, nullptr, false);
    if (!report.is_object()) report = json::object();
    report["id"] = r.id;
    report["created_at"] = r.created_at;
    out.push_back(std::move(report));
  }
  return out;
}

}  // namespace quiver::quality
