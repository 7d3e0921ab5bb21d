// Offline evaluation: runs one model version over a labelled dataset (dataset.h) in
// batches and scores its predictions with the same definitions as live feedback
// (quality_report.h), timing every batch.
//
// The version runs through a RunVersion function the server injects, so this module
// needs neither the route table nor a backend: the server runs a deployed version in
// place and loads any other one for the evaluation's length.
//
// A batch that fails counts its rows as failed (the report keeps the first few
// errors); when every batch fails the evaluation fails with the first error. A label
// that does not fit the task (a class label the version does not declare, text for a
// regression) is an InvalidArgument naming its line, raised before any result counts.
//
// Thread-safety: run_evaluation() blocks its calling thread; call it from a worker.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/prediction_task.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/tensor.h"
#include "quality/dataset.h"
#include "quality/quality_report.h"

namespace quiver::quality {

// Runs `version` of `model` on `inputs` and calls `done` exactly once, from any thread.
// An input with an empty name stands for the version's single input.
using RunDone = std::function<void(Result<std::vector<Tensor>>)>;
using RunVersion = std::function<void(const std::string& model, int64_t version, std::vector<Tensor> inputs,
                                      RunDone done)>;

struct EvaluationTarget {
  std::string model;
  int64_t version = 0;
  PredictionTask task;
  std::vector<TensorSpec> inputs;  // the declared inputs; may be empty (names the runner's)
};

struct EvaluationOptions {
  size_t batch_size = 32;
  size_t max_error_samples = 10;
};

struct RowError {
  int64_t line = 0;  // the first row of the failed batch
  std::string error;
};

struct EvaluationOutcome {
  size_t rows = 0;          // in the dataset
  uint64_t failed_rows = 0;
  std::vector<RowError> error_samples;
  QualityReport metrics;    // over the rows that ran
  size_t batches = 0;
  size_t batch_size = 0;
  double duration_ms = 0;
  double latency_p50_ms = 0, latency_p99_ms = 0, latency_mean_ms = 0;  // per batch
};

// Runs the whole dataset. `cancelled` (may be empty) is polled between batches; when
// it says true the evaluation stops with Unavailable.
Result<EvaluationOutcome> run_evaluation(const Dataset& dataset, const EvaluationTarget& target, const RunVersion& run,
                                         const Clock& clock, const EvaluationOptions& options,
                                         const std::function<bool()>& cancelled = {});

// The batch tensors for rows [begin, end) (exposed for tests).
Result<std::vector<Tensor>> batch_inputs(const Dataset& dataset, const EvaluationTarget& target, size_t begin,
                                         size_t end);

// The stored report, without "id" and "created_at" (the registry assigns those):
// {"model","version","dataset","label","format","rows","n","metrics","errors",
//  "error_samples","duration_ms","latency_ms":{"p50","p99","mean"},"batch_size","batches"}.
nlohmann::json evaluation_json(const EvaluationOutcome& outcome, const EvaluationTarget& target,
                               const std::string& dataset_sha256, const Dataset& dataset);

}  // namespace quiver::quality
