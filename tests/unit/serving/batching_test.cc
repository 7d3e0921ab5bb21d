// Dynamic batching: the tensor helpers, and a servable merging concurrent requests
// into backend calls while every caller gets exactly its own rows back.
#include "serving/batching.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <thread>

#include "metrics/metrics_registry.h"
#include "serving/servable.h"
#include "unit/serving/row_backend.h"

namespace quiver::serving {
namespace {

using quiver::testing::Answers;
using quiver::testing::row_input;
using quiver::testing::RowBackendLog;

std::vector<float> floats(const Tensor& t) { return {t.values<float>().begin(), t.values<float>().end()}; }

Tensor fp32(std::string name, Shape shape, std::vector<float> v) {
  return Tensor::from_values<float>(std::move(name), DataType::kFp32, std::move(shape), v);
}

// ---- helpers -------------------------------------------------------------------

TEST(BatchRows, IsTheCommonFirstDimensionOfFixedSizeInputs) {
  EXPECT_EQ(batch_rows({fp32("a", {3, 2}, std::vector<float>(6)), fp32("b", {3}, std::vector<float>(3))}), 3);
  EXPECT_EQ(batch_rows({fp32("a", {0, 2}, {})}), 0);
  EXPECT_EQ(batch_rows({fp32("a", {3, 2}, std::vector<float>(6)), fp32("b", {2}, std::vector<float>(2))}),
            std::nullopt)
      << "inputs disagree on the row count";
  EXPECT_EQ(batch_rows({fp32("a", {}, {1.0f})}), std::nullopt) << "a scalar has no rows";
  const std::vector<std::string> words = {"a", "bc"};
  EXPECT_EQ(batch_rows({Tensor("s", DataType::kBytes, {2}, encode_bytes_elements(words))}), std::nullopt)
      << "BYTES runs alone";
  EXPECT_EQ(batch_rows({}), std::nullopt);
}

TEST(CompatibleForBatching, NeedsSameNamesDtypesAndTrailingDims) {
  const std::vector<Tensor> base = {fp32("x", {1, 2}, {1, 2})};
  EXPECT_TRUE(compatible_for_batching(base, {fp32("x", {5, 2}, std::vector<float>(10))}));
  EXPECT_FALSE(compatible_for_batching(base, {fp32("x", {1, 3}, {1, 2, 3})}));
  EXPECT_FALSE(compatible_for_batching(base, {fp32("z", {1, 2}, {1, 2})}));
  EXPECT_FALSE(compatible_for_batching(base, {Tensor("x", DataType::kInt32, {1, 2}, std::vector<std::byte>(8))}));
  EXPECT_FALSE(compatible_for_batching(base, {fp32("x", {2}, {1, 2})}));
  EXPECT_FALSE(compatible_for_batching(base, {fp32("x", {1, 2}, {1, 2}), fp32("w", {1}, {1})}));
}

TEST(ConcatRows, AppendsEachInputAlongTheFirstDimensionInOrder) {
  const std::vector<Tensor> a = {fp32("x", {1, 2}, {1, 2}), fp32("w", {1}, {10})};
  const std::vector<Tensor> b = {fp32("x", {2, 2}, {3, 4, 5, 6}), fp32("w", {2}, {20, 30})};
  const std::vector<const std::vector<Tensor>*> parts = {&a, &b};
  auto merged = concat_rows(parts);
  ASSERT_TRUE(merged.is_ok()) << merged.status().to_string();
  ASSERT_EQ(merged->size(), 2u);
  EXPECT_EQ((*merged)[0].name(), "x");
  EXPECT_EQ((*merged)[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(floats((*merged)[0]), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ((*merged)[1].name(), "w");
  EXPECT_EQ((*merged)[1].shape(), (Shape{3}));
  EXPECT_EQ(floats((*merged)[1]), (std::vector<float>{10, 20, 30}));
  EXPECT_TRUE((*merged)[0].validate().is_ok());
}

TEST(ConcatRows, RefusesIncompatibleRequests) {
  const std::vector<Tensor> a = {fp32("x", {1, 2}, {1, 2})};
  const std::vector<Tensor> b = {fp32("x", {1, 3}, {1, 2, 3})};
  const std::vector<const std::vector<Tensor>*> parts = {&a, &b};
  EXPECT_EQ(concat_rows(parts).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(concat_rows({}).status().code(), StatusCode::kInvalidArgument);
}

TEST(SplitRows, GivesEachRequestItsRowsOfEveryOutput) {
  const std::vector<Tensor> outputs = {fp32("y", {3, 2}, {1, 2, 3, 4, 5, 6}), fp32("s", {3}, {7, 8, 9})};
  const std::vector<int64_t> rows = {2, 0, 1};
  auto parts = split_rows(outputs, rows);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 3u);
  EXPECT_EQ((*parts)[0][0].shape(), (Shape{2, 2}));
  EXPECT_EQ(floats((*parts)[0][0]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(floats((*parts)[0][1]), (std::vector<float>{7, 8}));
  EXPECT_EQ((*parts)[1][0].shape(), (Shape{0, 2}));
  EXPECT_EQ((*parts)[1][0].byte_size(), 0u);
  EXPECT_EQ(floats((*parts)[2][0]), (std::vector<float>{5, 6}));
  EXPECT_EQ((*parts)[2][1].shape(), (Shape{1}));
  EXPECT_EQ(floats((*parts)[2][1]), (std::vector<float>{9}));
  EXPECT_EQ((*parts)[2][1].name(), "s");
  for (const auto& p : *parts)
    for (const auto& t : p) EXPECT_TRUE(t.validate().is_ok());
}

TEST(SplitRows, PartsOutliveTheBatchOutputs) {
  std::vector<std::vector<Tensor>> parts;
  {
    const std::vector<Tensor> outputs = {fp32("y", {2, 1}, {4, 5})};
    const std::vector<int64_t> rows = {1, 1};
    parts = std::move(split_rows(outputs, rows)).value();
  }
  EXPECT_EQ(floats(parts[1][0]), (std::vector<float>{5}));
}

TEST(SplitRows, SplitsBytesOutputsByElement) {
  const std::vector<std::string> words = {"a", "", "ccc", "dd"};  // 2 per row
  const std::vector<Tensor> outputs = {Tensor("s", DataType::kBytes, {2, 2}, encode_bytes_elements(words))};
  const std::vector<int64_t> rows = {1, 1};
  auto parts = split_rows(outputs, rows);
  ASSERT_TRUE(parts.is_ok()) << parts.status().to_string();
  auto second = bytes_elements((*parts)[1][0]);
  ASSERT_TRUE(second.is_ok());
  EXPECT_EQ(*second, (std::vector<std::string_view>{"ccc", "dd"}));
  EXPECT_EQ((*parts)[0][0].shape(), (Shape{1, 2}));
}

TEST(SplitRows, OutputWithoutTheBatchRowsIsAnInternalError) {
  const std::vector<int64_t> rows = {1, 2};
  for (const Tensor& bad : {fp32("y", {2, 2}, {1, 2, 3, 4}), fp32("y", {}, {1})}) {
    auto parts = split_rows({bad}, rows);
    EXPECT_EQ(parts.status().code(), StatusCode::kInternal);
    EXPECT_NE(parts.status().message().find("for a batch of 3 rows"), std::string::npos) << parts.status().message();
  }
}

// ---- the servable's batcher ----------------------------------------------------

// Expects `result` to be the row backend's answer to row_input(rows, width, first).
void expect_own_rows(const Result<std::vector<Tensor>>& result, int64_t rows, int64_t width, float first) {
  ASSERT_TRUE(result.is_ok()) << result.status().to_string();
  ASSERT_EQ(result->size(), 2u);
  const Tensor& y = (*result)[0];
  const Tensor& sum = (*result)[1];
  ASSERT_EQ(y.shape(), (Shape{rows, width}));
  ASSERT_EQ(sum.shape(), (Shape{rows}));
  for (int64_t i = 0; i < rows * width; ++i)
    EXPECT_EQ(y.values<float>()[static_cast<size_t>(i)], testing::row_output(first + static_cast<float>(i)));
  for (int64_t r = 0; r < rows; ++r) {
    float expect = 0;
    for (int64_t c = 0; c < width; ++c) expect += first + static_cast<float>(r * width + c);
    EXPECT_EQ(sum.values<float>()[static_cast<size_t>(r)], expect);
  }
}

class BatcherTest : public ::testing::Test {
 protected:
  std::shared_ptr<Servable> load(int max_batch, std::chrono::microseconds delay, std::vector<int> preferred = {},
                                 int instances = 1) {
    ServableConfig c;
    c.model = "m";
    c.version = 3;
    c.framework = "onnx";
    c.instances = instances;
    c.batching.max_batch_size = max_batch;
    c.batching.max_queue_delay_us = delay.count();
    c.batching.preferred_batch_sizes = std::move(preferred);
    auto s = Servable::load(c, testing::row_loader(log_), &metrics_);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    // Kept here too, so that a failed assertion cannot stop it while the gate is
    // closed: TearDown opens the gate first.
    servable_ = s.is_ok() ? std::move(s).value() : nullptr;
    return servable_;
  }
  // Occupies the only worker at the closed gate so later submits queue up together.
  void hold_worker(Servable& s, Answers& answers, size_t index) {
    log_->gate.close();
    s.submit({row_input(1, 2, 1000)}, answers.callback(index));
    ASSERT_TRUE(log_->gate.wait_for_waiters(1));
  }

  void TearDown() override {
    log_->gate.open();
    servable_.reset();
  }

  std::shared_ptr<RowBackendLog> log_ = std::make_shared<RowBackendLog>();
  metrics::MetricsRegistry metrics_;
  std::shared_ptr<Servable> servable_;
};

TEST_F(BatcherTest, QueuedRequestsRunAsBatchesAndEachCallerGetsItsOwnRows) {
  auto s = load(4, std::chrono::milliseconds(20));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s, answers, 0);
  for (size_t i = 1; i <= 10; ++i) s->submit({row_input(1, 2, static_cast<float>(10 * i))}, answers.callback(i));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(11));
  for (size_t i = 1; i <= 10; ++i) expect_own_rows(answers.result(i), 1, 2, static_cast<float>(10 * i));
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{1, 4, 4, 2}));
  EXPECT_EQ(s->stats().batches(), 4u);
  EXPECT_EQ(s->stats().requests(), 11u);

  const metrics::Labels labels = {{"model", "m"}, {"version", "3"}};
  const auto rows = metrics_.histogram("quiver_batch_size", "", labels).snapshot();
  EXPECT_EQ(rows.count, 4u);
  EXPECT_EQ(rows.sum, 11.0);
  const auto requests = metrics_.histogram("quiver_batch_requests", "", labels).snapshot();
  EXPECT_EQ(requests.sum, 11.0);
  EXPECT_NE(metrics_.render().find("quiver_batch_size_bucket{model=\"m\",version=\"3\",le=\"1024\"} 4"),
            std::string::npos)
      << metrics_.render();
}

TEST_F(BatcherTest, ConcurrentCallersWithMixedRowCountsGetTheirOwnRows) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 40;
  constexpr int kMaxBatch = 6;
  auto s = load(kMaxBatch, std::chrono::milliseconds(2), {}, /*instances=*/2);
  ASSERT_NE(s, nullptr);
  Answers answers;
  std::vector<int64_t> rows_of(kThreads * kPerThread);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int k = 0; k < kPerThread; ++k) {
        const size_t i = static_cast<size_t>(t * kPerThread + k);
        rows_of[i] = 1 + static_cast<int64_t>(rng() % 3);
        s->submit({row_input(rows_of[i], 3, static_cast<float>(i * 100))}, answers.callback(i));
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(answers.wait_for(kThreads * kPerThread));
  for (size_t i = 0; i < rows_of.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(answers.calls(i), 1);
    expect_own_rows(answers.result(i), rows_of[i], 3, static_cast<float>(i * 100));
  }
  const auto rows = log_->rows();
  for (int64_t r : rows) EXPECT_LE(r, kMaxBatch);
  EXPECT_EQ(std::accumulate(rows.begin(), rows.end(), int64_t{0}),
            std::accumulate(rows_of.begin(), rows_of.end(), int64_t{0}))
      << "every row ran exactly once";
}

TEST_F(BatcherTest, PreferredBatchSizeRunsWithoutWaitingForTheDelay) {
  // An hour's delay: only the preferred size can make the batch run.
  auto s = load(8, std::chrono::hours(1), {2});
  ASSERT_NE(s, nullptr);
  Answers answers;
  s->submit({row_input(1, 2, 1)}, answers.callback(0));
  s->submit({row_input(1, 2, 5)}, answers.callback(1));
  ASSERT_TRUE(answers.wait_for(2)) << "the batch waited although it reached a preferred size";
  expect_own_rows(answers.result(0), 1, 2, 1);
  expect_own_rows(answers.result(1), 1, 2, 5);
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{2}));
}

TEST_F(BatcherTest, FullBatchRunsWithoutWaitingForTheDelay) {
  auto s = load(3, std::chrono::hours(1));
  ASSERT_NE(s, nullptr);
  Answers answers;
  s->submit({row_input(2, 2, 1)}, answers.callback(0));
  s->submit({row_input(1, 2, 9)}, answers.callback(1));
  ASSERT_TRUE(answers.wait_for(2));
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{3}));
}

TEST_F(BatcherTest, LoneRequestRunsOnceTheDelayHasPassed) {
  const auto delay = std::chrono::milliseconds(30);
  auto s = load(8, delay);
  ASSERT_NE(s, nullptr);
  Answers answers;
  const auto before = std::chrono::steady_clock::now();
  s->submit({row_input(1, 2, 1)}, answers.callback(0));
  ASSERT_TRUE(answers.wait_for(1, std::chrono::seconds(10))) << "the delay bound was not kept";
  EXPECT_GE(std::chrono::steady_clock::now() - before, delay) << "it waited for company for the delay";
  expect_own_rows(answers.result(0), 1, 2, 1);
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{1}));
}

TEST_F(BatcherTest, IncompatibleShapesAreNeverBatchedAndKeepTheirOrder) {
  auto s = load(8, std::chrono::milliseconds(5));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s, answers, 0);
  // Widths 2, 3, 2, 3, 4: the twos run together, then the threes, then the four.
  const std::vector<int64_t> widths = {2, 3, 2, 3, 4};
  for (size_t i = 0; i < widths.size(); ++i)
    s->submit({row_input(1, widths[i], static_cast<float>(i * 10))}, answers.callback(i + 1));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(6));
  for (size_t i = 0; i < widths.size(); ++i) expect_own_rows(answers.result(i + 1), 1, widths[i], static_cast<float>(i * 10));
  EXPECT_EQ(log_->shapes(), (std::vector<Shape>{{1, 2}, {2, 2}, {2, 3}, {1, 4}}));
}

TEST_F(BatcherTest, RequestsBiggerThanTheMaximumRunAlone) {
  auto s = load(4, std::chrono::milliseconds(5));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s, answers, 0);
  s->submit({row_input(1, 2, 1)}, answers.callback(1));
  s->submit({row_input(6, 2, 100)}, answers.callback(2));
  s->submit({row_input(2, 2, 200)}, answers.callback(3));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(4));
  expect_own_rows(answers.result(2), 6, 2, 100);
  expect_own_rows(answers.result(3), 2, 2, 200);
  // The big one does not fit behind the first, runs alone next, then the last one.
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{1, 1, 6, 2}));
}

TEST_F(BatcherTest, MaxBatchSizeOneRunsEveryRequestAlone) {
  auto s = load(1, std::chrono::hours(1));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s, answers, 0);
  for (size_t i = 1; i <= 3; ++i) s->submit({row_input(1, 2, static_cast<float>(i))}, answers.callback(i));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(4)) << "max_batch_size 1 must not wait for the delay";
  EXPECT_EQ(log_->rows(), (std::vector<int64_t>{1, 1, 1, 1}));
}

TEST_F(BatcherTest, OutputsThatCannotBeSplitFailEveryRequestOfTheBatch) {
  auto s = load(4, std::chrono::milliseconds(5));
  ASSERT_NE(s, nullptr);
  Answers answers;
  hold_worker(*s, answers, 0);
  log_->bad_rows = true;
  s->submit({row_input(1, 2, 1)}, answers.callback(1));
  s->submit({row_input(2, 2, 1)}, answers.callback(2));
  log_->gate.open();
  ASSERT_TRUE(answers.wait_for(3));
  for (size_t i : {1, 2}) {
    const Status st = answers.result(i).status();
    EXPECT_EQ(st.code(), StatusCode::kInternal) << i;
    EXPECT_NE(st.message().find("model 'm' version 3"), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("for a batch of 3 rows"), std::string::npos) << st.message();
  }
  EXPECT_EQ(s->stats().errors(), 2u);
}

TEST_F(BatcherTest, StopRunsAGatheringBatchAtOnce) {
  auto s = load(8, std::chrono::hours(1));
  ASSERT_NE(s, nullptr);
  Answers answers;
  s->submit({row_input(1, 2, 1)}, answers.callback(0));
  s->stop();  // must not wait an hour for the batch to fill
  EXPECT_EQ(answers.calls(0), 1);
  expect_own_rows(answers.result(0), 1, 2, 1);
}

}  // namespace
}  // namespace quiver::serving
