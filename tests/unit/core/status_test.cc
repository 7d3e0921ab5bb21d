#include "core/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace quiver {
namespace {

TEST(Status, DefaultIsOk) {
  Status st;
  EXPECT_TRUE(st.is_ok());
  EXPECT_TRUE(static_cast<bool>(st));
  EXPECT_EQ(st.code(), StatusCode::kOk);
  EXPECT_EQ(st.to_string(), "OK");
  EXPECT_TRUE(Status::ok().is_ok());
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status st = not_found("unknown model 'iris'");
  EXPECT_FALSE(st.is_ok());
  EXPECT_FALSE(static_cast<bool>(st));
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "unknown model 'iris'");
  EXPECT_EQ(st.to_string(), "NOT_FOUND: unknown model 'iris'");
}

TEST(Status, HelpersMapToTheirCodes) {
  EXPECT_EQ(invalid_argument("m").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(already_exists("m").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(failed_precondition("m").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(payload_too_large("m").code(), StatusCode::kPayloadTooLarge);
  EXPECT_EQ(resource_exhausted("m").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(unavailable("m").code(), StatusCode::kUnavailable);
  EXPECT_EQ(deadline_exceeded("m").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(data_loss("m").code(), StatusCode::kDataLoss);
  EXPECT_EQ(internal_error("m").code(), StatusCode::kInternal);
}

TEST(Status, CodeNames) {
  EXPECT_EQ(status_code_name(StatusCode::kInvalidArgument), "INVALID_ARGUMENT");
  EXPECT_EQ(status_code_name(StatusCode::kResourceExhausted), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(status_code_name(StatusCode::kUnavailable), "UNAVAILABLE");
}

TEST(Status, WithContextPrefixesErrorsOnly) {
  Status st = data_loss("bad bytes").with_context("loading model 'm' v2");
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_EQ(st.message(), "loading model 'm' v2: bad bytes");
  EXPECT_TRUE(Status::ok().with_context("anything").is_ok());
  EXPECT_EQ(Status::ok().with_context("anything").message(), "");
}

TEST(Result, HoldsAValue) {
  Result<std::string> r = std::string("hi");
  ASSERT_TRUE(r.is_ok());
  EXPECT_TRUE(r.status().is_ok());
  EXPECT_EQ(*r, "hi");
  EXPECT_EQ(r->size(), 2u);
  EXPECT_EQ(r.value(), "hi");
}

TEST(Result, HoldsAnError) {
  Result<int> r = unavailable("not ready");
  EXPECT_FALSE(r.is_ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "not ready");
}

TEST(Result, MovesOutMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(42);
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
}

Result<int> parse_positive(int x) {
  if (x <= 0) return invalid_argument("not positive: " + std::to_string(x));
  return x;
}

// Counts how far the function got, to prove an early return really returns early.
Result<int> doubled(int x, int& reached) {
  QUIVER_ASSIGN_OR_RETURN(const int v, parse_positive(x));
  reached = 1;
  QUIVER_ASSIGN_OR_RETURN(auto w, parse_positive(v - 10));
  reached = 2;
  return v + w;
}

Status check_both(int a, int b) {
  QUIVER_RETURN_IF_ERROR(parse_positive(a).status());
  QUIVER_RETURN_IF_ERROR(parse_positive(b).status());
  return Status::ok();
}

TEST(Macros, AssignOrReturnAssignsOnSuccess) {
  int reached = 0;
  auto r = doubled(15, reached);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, 20);
  EXPECT_EQ(reached, 2);
}

TEST(Macros, AssignOrReturnPropagatesTheFirstError) {
  int reached = 0;
  auto r = doubled(-3, reached);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "not positive: -3");
  EXPECT_EQ(reached, 0);

  reached = 0;
  r = doubled(4, reached);
  EXPECT_EQ(r.status().message(), "not positive: -6");
  EXPECT_EQ(reached, 1);
}

TEST(Macros, ReturnIfErrorStopsAtTheFirstFailure) {
  EXPECT_TRUE(check_both(1, 2).is_ok());
  EXPECT_EQ(check_both(-1, -2).message(), "not positive: -1");
  EXPECT_EQ(check_both(1, -2).message(), "not positive: -2");
}

}  // namespace
}  // namespace quiver
