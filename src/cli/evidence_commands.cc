// `quiver eval`, `quiver compare` and `quiver feedback`: the evidence versions are
// chosen by (API.md §4) — offline evaluations on a labelled dataset, live numbers side
// by side with the objective's scores, and ground truth or rewards for past requests.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/blob_upload.h"
#include "cli/command_context.h"
#include "cli/commands.h"
#include "cli/deployment_views.h"
#include "cli/text_table.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

// A confusion matrix wider than this is left to --json.
constexpr size_t kMaxConfusionClasses = 20;
// Rows of a failed evaluation shown as examples.
constexpr size_t kMaxErrorSamples = 3;

struct EvalOptions {
  std::string server;
  std::string model;
  std::string version;
  std::string dataset;
  std::string label;
  bool list = false;
  bool json = false;
};

struct CompareOptions {
  std::string server;
  std::string model;
  std::vector<std::string> versions;
  bool json = false;
};

struct FeedbackOptions {
  std::string server;
  std::string model;
  std::string id;
  std::optional<std::string> truth;
  std::optional<std::string> reward;
};

std::string model_path(const std::string& model) {
  return fmt::format("/v1/models/{}", encode_path_segment(model));
}

std::string evaluations_path(const std::string& model, const std::string& version) {
  return fmt::format("{}/versions/{}/evaluations", model_path(model), encode_path_segment(version));
}

const json& list_or_empty(const json* value) {
  static const json kEmpty = json::array();
  return value != nullptr && value->is_array() ? *value : kEmpty;
}

// Four significant digits, whole numbers from 1000 up; integers as they are.
std::string short_number(const json* value) {
  if (value == nullptr || !value->is_number()) return "-";
  if (!value->is_number_float()) return value->dump();
  const double x = value->get<double>();
  if (std::abs(x) >= 1000) return fmt::format("{:.0f}", x);
  return fmt::format("{:.4g}", x);
}

std::string sha_prefix(const json* sha) {
  const std::string text = cell(sha);
  return text.size() > 12 ? text.substr(0, 12) : text;
}

// ---- quiver eval ------------------------------------------------------------------

std::string class_name(const json& per_class, size_t index) {
  for (const auto& c : per_class) {
    const json* cls = field(c, "class");
    if (cls == nullptr || !cls->is_number_integer() || cls->get<int64_t>() != static_cast<int64_t>(index)) continue;
    const json* label = field(c, "label");
    if (label != nullptr && label->is_string() && !label->get_ref<const std::string&>().empty()) {
      return label->get<std::string>();
    }
    break;
  }
  return std::to_string(index);
}

std::string confusion_text(const json& metrics) {
  const json& confusion = list_or_empty(field(metrics, "confusion"));
  if (confusion.empty()) return "";
  if (confusion.size() > kMaxConfusionClasses) {
    return fmt::format("confusion matrix: {} classes (see --json)\n", confusion.size());
  }
  const json& per_class = list_or_empty(field(metrics, "per_class"));
  TableRow header = {"TRUTH \\ PREDICTED"};
  for (size_t i = 0; i < confusion.size(); ++i) header.push_back(class_name(per_class, i));
  std::vector<TableRow> rows;
  for (size_t i = 0; i < confusion.size(); ++i) {
    TableRow row = {class_name(per_class, i)};
    for (const auto& count : list_or_empty(&confusion[i])) row.push_back(cell(&count));
    rows.push_back(std::move(row));
  }
  return "confusion matrix (rows: truth, columns: predicted):\n" + render_table(header, rows);
}

std::string per_class_text(const json& metrics) {
  const json& per_class = list_or_empty(field(metrics, "per_class"));
  if (per_class.empty()) return "";
  std::vector<TableRow> rows;
  for (const auto& c : per_class) {
    rows.push_back({cell(field(c, "class")), cell(field(c, "label")), number_cell(field(c, "precision"), 3),
                    number_cell(field(c, "recall"), 3), number_cell(field(c, "f1"), 3), cell(field(c, "support"))});
  }
  return render_table({"CLASS", "LABEL", "PRECISION", "RECALL", "F1", "SUPPORT"}, rows);
}

// "accuracy 91.3%  macro F1 0.901" or "MAE 0.12  RMSE 0.3"; empty for an unknown task.
std::string headline_metrics(const json& metrics) {
  const std::string task = cell(field(metrics, "task"));
  if (task == "regression" || field(metrics, "mae") != nullptr) {
    return fmt::format("MAE {}  RMSE {}", short_number(field(metrics, "mae")),
                       short_number(field(metrics, "rmse")));
  }
  if (task == "classification" || field(metrics, "accuracy") != nullptr) {
    return fmt::format("accuracy {}  macro F1 {}", percent_cell(field(metrics, "accuracy")),
                       number_cell(field(metrics, "macro_f1"), 3));
  }
  return "";
}

std::string render_evaluation(const json& report) {
  const json empty = json::object();
  const json* metrics_ptr = field(report, "metrics");
  const json& metrics = metrics_ptr != nullptr && metrics_ptr->is_object() ? *metrics_ptr : empty;
  const json* version = field(report, "version");

  std::string out = fmt::format("evaluation {}: {} version {} on dataset {}", cell(field(report, "id")),
                                cell(field(report, "model")), version != nullptr ? version_text(*version) : "-",
                                sha_prefix(field(report, "dataset")));
  if (const std::string label = cell(field(report, "label")); label != "-") out += fmt::format(" (label {})", label);
  out += '\n';
  const json* n = field(report, "n");
  out += fmt::format("n {}  errors {}  duration {}\n", cell(n != nullptr ? n : field(metrics, "n")),
                     cell(field(report, "errors")), number_cell(field(report, "duration_ms"), 0, "ms"));
  if (const std::string headline = headline_metrics(metrics); !headline.empty()) {
    out += headline;
    if (field(metrics, "macro_precision") != nullptr) {
      out += fmt::format("  macro precision {}  macro recall {}", number_cell(field(metrics, "macro_precision"), 3),
                         number_cell(field(metrics, "macro_recall"), 3));
    }
    out += '\n';
  }
  if (const json* latency = field(report, "latency_ms"); latency != nullptr && latency->is_object()) {
    out += fmt::format("latency p50 {}  p99 {}  mean {}\n", number_cell(field(*latency, "p50"), 2, "ms"),
                       number_cell(field(*latency, "p99"), 2, "ms"), number_cell(field(*latency, "mean"), 2, "ms"));
  }
  const json& samples = list_or_empty(field(report, "error_samples"));
  for (size_t i = 0; i < samples.size() && i < kMaxErrorSamples; ++i) {
    out += fmt::format("  line {}: {}\n", cell(field(samples[i], "line")), cell(field(samples[i], "error")));
  }
  out += per_class_text(metrics);
  out += confusion_text(metrics);
  return out;
}

std::string render_evaluation_list(const json& answer) {
  const json* list = answer.is_array() ? &answer : field(answer, "evaluations");
  const json& reports = list_or_empty(list);
  if (reports.empty()) return "no evaluations yet (run one with `quiver eval MODEL VERSION --dataset FILE`)\n";
  std::vector<TableRow> rows;
  for (const auto& r : reports) {
    const json* metrics = field(r, "metrics");
    const json* latency = field(r, "latency_ms");
    rows.push_back({cell(field(r, "id")), format_timestamp(field(r, "created_at")), sha_prefix(field(r, "dataset")),
                    cell(field(r, "label")), cell(field(r, "n")),
                    metrics != nullptr ? headline_metrics(*metrics) : "-", cell(field(r, "errors")),
                    latency != nullptr ? number_cell(field(*latency, "p99"), 2, "ms") : "-"});
    if (rows.back()[5].empty()) rows.back()[5] = "-";
  }
  return render_table({"ID", "CREATED", "DATASET", "LABEL", "N", "RESULT", "ERRORS", "P99"}, rows);
}

Result<std::string> upload_dataset(CommandContext& ctx, const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return ctx.usage(not_found(fmt::format("'{}' is not a file", path)));
  }
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return ctx.usage(internal_error(fmt::format("cannot read '{}': {}", path, ec.message())));
  QUIVER_ASSIGN_OR_RETURN(UploadedBlob blob, upload_blob(ctx, path, size));
  return blob.sha256;
}

Status run_eval(CommandContext& ctx, const EvalOptions& o) {
  const std::string path = evaluations_path(o.model, o.version);
  if (o.list) {
    if (!o.dataset.empty() || !o.label.empty()) {
      return ctx.usage(invalid_argument("--list shows past evaluations; it takes no --dataset or --label"));
    }
    QUIVER_ASSIGN_OR_RETURN(json answer, ctx.get(path));
    fmt::print("{}", o.json ? answer.dump(2) + "\n" : render_evaluation_list(answer));
    return Status::ok();
  }
  if (o.dataset.empty()) {
    return ctx.usage(invalid_argument(fmt::format(
        "say which dataset to evaluate on (quiver eval {} {} --dataset FILE), or pass --list", o.model, o.version)));
  }
  QUIVER_ASSIGN_OR_RETURN(std::string sha256, upload_dataset(ctx, o.dataset));
  json body = {{"dataset", sha256}};
  if (!o.label.empty()) body["label"] = o.label;
  QUIVER_ASSIGN_OR_RETURN(json report, ctx.call("POST", path, body));
  fmt::print("{}", o.json ? report.dump(2) + "\n" : render_evaluation(report));
  return Status::ok();
}

// ---- quiver compare ---------------------------------------------------------------

std::string state_cell(const json& v) {
  const json* state = field(v, "state");
  if (state != nullptr && !state->is_null()) return cell(state);
  const json* deployed = field(v, "deployed");
  if (deployed != nullptr && deployed->is_boolean() && !deployed->get<bool>()) return "not deployed";
  return "-";
}

std::string accuracy_cell(const json& v) {
  std::string text = percent_cell(field(v, "accuracy"));
  if (text == "-") return text;
  if (const std::string source = cell(field(v, "accuracy_source")); source != "-") {
    text += fmt::format(" ({})", source);
  }
  return text;
}

std::string versions_table(const json& versions) {
  TableRow header = {"VERSION"};
  std::vector<TableRow> rows = {{"state"},       {"requests"}, {"error rate"}, {"p50"},
                                {"p99"},         {"accuracy"}, {"F1"},         {"shadow agreement"},
                                {"cost"},        {"memory"}};
  for (const auto& v : versions) {
    const json* version = field(v, "version");
    header.push_back(version != nullptr ? version_text(*version) : "-");
    const std::string cells[] = {state_cell(v),
                                 cell(field(v, "requests")),
                                 percent_cell(field(v, "error_rate")),
                                 number_cell(field(v, "p50_ms"), 1, "ms"),
                                 number_cell(field(v, "p99_ms"), 1, "ms"),
                                 accuracy_cell(v),
                                 number_cell(field(v, "f1"), 3),
                                 percent_cell(field(v, "shadow_agreement")),
                                 short_number(field(v, "cost")),
                                 number_cell(field(v, "memory_mb"), 0, "MB")};
    for (size_t i = 0; i < rows.size(); ++i) rows[i].push_back(cells[i]);
  }
  return render_table(header, rows);
}

// "accuracy=1 p99_ms=-0.5": an object's members, compactly.
std::string members_text(const json* object) {
  if (object == nullptr || !object->is_object() || object->empty()) return "-";
  std::vector<std::string> parts;
  for (const auto& [key, value] : object->items()) {
    parts.push_back(fmt::format("{}={}", key, value.is_number() ? short_number(&value) : cell(&value)));
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string objective_text(const json& objective) {
  std::string out = fmt::format("objective: weights {}", members_text(field(objective, "weights")));
  if (const json* budget = field(objective, "budget"); budget != nullptr && budget->is_object() && !budget->empty()) {
    out += fmt::format("  budget {}", members_text(budget));
  }
  out += '\n';

  // Best first; versions without a score (excluded) last, in the server's order.
  json rows_in = list_or_empty(field(objective, "rows"));
  std::vector<const json*> rows;
  for (const auto& r : rows_in) rows.push_back(&r);
  const auto score_of = [](const json* r) {
    const json* s = field(*r, "score");
    return s != nullptr && s->is_number() ? std::optional<double>(s->get<double>()) : std::nullopt;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const json* a, const json* b) {
    const auto sa = score_of(a), sb = score_of(b);
    if (sa && sb) return *sa > *sb;
    return sa.has_value() && !sb.has_value();
  });

  // One column per normalised metric: the weights' order first, then any others.
  std::vector<std::string> metrics;
  const auto add_metric = [&](const std::string& name) {
    if (std::find(metrics.begin(), metrics.end(), name) == metrics.end()) metrics.push_back(name);
  };
  if (const json* weights = field(objective, "weights"); weights != nullptr && weights->is_object()) {
    for (const auto& [key, value] : weights->items()) add_metric(key);
  }
  for (const json* r : rows) {
    if (const json* normalised = field(*r, "normalised"); normalised != nullptr && normalised->is_object()) {
      for (const auto& [key, value] : normalised->items()) add_metric(key);
    }
  }

  const json* best = field(objective, "best");
  const std::string best_text = best != nullptr && !best->is_null() ? version_text(*best) : "";
  TableRow header = {"", "VERSION", "SCORE"};
  for (const auto& m : metrics) header.push_back(m);
  header.push_back("IN BUDGET");
  header.push_back("EXCLUDED");
  std::vector<TableRow> table;
  for (const json* r : rows) {
    const json* version = field(*r, "version");
    const std::string name = version != nullptr ? version_text(*version) : "-";
    TableRow row = {!best_text.empty() && name == best_text ? "*" : "", name, short_number(field(*r, "score"))};
    const json* normalised = field(*r, "normalised");
    for (const auto& m : metrics) row.push_back(short_number(normalised != nullptr ? field(*normalised, m) : nullptr));
    const json* within = field(*r, "within_budget");
    row.push_back(within != nullptr && within->is_boolean() ? (within->get<bool>() ? "yes" : "no") : "-");
    row.push_back(cell(field(*r, "excluded_reason")));
    table.push_back(std::move(row));
  }
  if (!table.empty()) out += render_table(header, table);
  out += best_text.empty() ? "best: none (no version qualifies)\n" : fmt::format("best: version {}\n", best_text);
  return out;
}

std::string render_comparison(const json& answer) {
  const json& versions = list_or_empty(field(answer, "versions"));
  std::string out = fmt::format("model {}\n", cell(field(answer, "model")));
  if (versions.empty()) {
    out += "no versions to compare\n";
  } else {
    out += versions_table(versions);
  }
  if (const json* objective = field(answer, "objective"); objective != nullptr && objective->is_object()) {
    out += '\n';
    out += objective_text(*objective);
  }
  return out;
}

Status run_compare(CommandContext& ctx, const CompareOptions& o) {
  std::string target = model_path(o.model) + "/compare";
  if (!o.versions.empty()) {
    std::vector<std::string> encoded;
    for (const auto& v : o.versions) {
      if (v.empty() || v.find(',') != std::string::npos) {
        return ctx.usage(invalid_argument(fmt::format("'{}' is not a version or an alias", v)));
      }
      encoded.push_back(encode_path_segment(v));
    }
    target += fmt::format("?versions={}", fmt::join(encoded, ","));
  }
  QUIVER_ASSIGN_OR_RETURN(json answer, ctx.get(target));
  fmt::print("{}", o.json ? answer.dump(2) + "\n" : render_comparison(answer));
  return Status::ok();
}

// ---- quiver feedback --------------------------------------------------------------

// "3" -> 3, "0.5" -> 0.5, anything else (a label such as "cat") -> the string.
json truth_value(const std::string& text) {
  if (text.empty()) return text;
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const long long whole = std::strtoll(begin, &end, 10);
  if (errno == 0 && end == begin + text.size() && !std::isspace(static_cast<unsigned char>(text[0]))) return whole;
  errno = 0;
  const double number = std::strtod(begin, &end);
  const bool plain = text.find_first_of("xXnN") == std::string::npos;  // not hex, inf or nan
  if (errno == 0 && end == begin + text.size() && plain && std::isfinite(number) &&
      !std::isspace(static_cast<unsigned char>(text[0]))) {
    return number;
  }
  return text;
}

Result<double> reward_value(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(begin, &end);
  if (text.empty() || errno != 0 || end != begin + text.size() || !std::isfinite(number) ||
      std::isspace(static_cast<unsigned char>(text[0]))) {
    return invalid_argument(fmt::format("--reward must be a number, not '{}'", text));
  }
  return number;
}

Status run_feedback(CommandContext& ctx, const FeedbackOptions& o) {
  if (o.truth.has_value() == o.reward.has_value()) {
    return ctx.usage(invalid_argument("give the request's outcome as exactly one of --truth VALUE or --reward NUMBER"));
  }
  json body = {{"model", o.model}, {"id", o.id}};
  if (o.truth) {
    body["truth"] = truth_value(*o.truth);
  } else {
    QUIVER_ASSIGN_OR_RETURN(double reward, ctx.usage(reward_value(*o.reward)));
    body["reward"] = reward;
  }
  QUIVER_ASSIGN_OR_RETURN(json answer, ctx.call("POST", "/v1/feedback", body));
  std::string line = fmt::format("joined {}  unknown {}  expired {}", cell(field(answer, "joined")),
                                 cell(field(answer, "unknown")), cell(field(answer, "expired")));
  for (const char* extra : {"duplicate", "invalid"}) {
    const json* count = field(answer, extra);
    if (count != nullptr && count->is_number() && count->get<double>() > 0) {
      line += fmt::format("  {} {}", extra, count->dump());
    }
  }
  fmt::print("{}\n", line);
  for (const auto& error : list_or_empty(field(answer, "errors"))) fmt::print("  {}\n", cell(&error));
  return Status::ok();
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Evaluate a version on a labelled dataset, or list past evaluations");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_option("version", o->version, "Version or alias")->required();
  cmd->add_option("--dataset,-d", o->dataset, "CSV or JSON-lines file with inputs and the true labels");
  cmd->add_option("--label", o->label, "The dataset's column with the truth (default: the server's choice)");
  cmd->add_flag("--list", o->list, "List the version's past evaluations, newest first");
  cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_eval(ctx, *o); }); });
}

void add_compare_command(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand("compare", "Compare a model's versions side by side, with the objective's scores");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_option("versions", o->versions, "Versions or aliases (default: the deployed ones)");
  cmd->add_flag("--json", o->json, "Print the server's JSON answer");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_compare(ctx, *o); }); });
}

void add_feedback_command(CLI::App& app) {
  auto o = std::make_shared<FeedbackOptions>();
  CLI::App* cmd = app.add_subcommand("feedback", "Report the true outcome (or a reward) of an earlier request");
  cmd->add_option("model", o->model, "Model name")->required();
  cmd->add_option("id", o->id, "The inference request's id")->required();
  cmd->add_option("--truth", o->truth, "The true answer: a class index, a number or a label");
  cmd->add_option("--reward", o->reward, "A reward for the answer given, a number");
  add_server_option(*cmd, o->server);
  cmd->callback([o] { run_command(o->server, [&](CommandContext& ctx) { return run_feedback(ctx, *o); }); });
}

}  // namespace quiver::cli
