#include <gtest/gtest.h>

#include <string>

#include "api/common/log_setup.h"

namespace quiver::api {
namespace {

TEST(LogSetupTest, AcceptsTheDocumentedLevelsAndFormatsOnly) {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    EXPECT_TRUE(check_log_options(level, "text").is_ok()) << level;
    EXPECT_TRUE(check_log_options(level, "json").is_ok()) << level;
  }
  EXPECT_EQ(check_log_options("verbose", "text").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(check_log_options("INFO", "text").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(check_log_options("info", "xml").code(), StatusCode::kInvalidArgument);
}

TEST(LogSetupTest, EscapesMessagesIntoOneJsonStringOnOneLine) {
  std::string out;
  append_json_escaped(out, std::string("model \"a\\b\"\nline2\t\x01 end", 23));
  EXPECT_EQ(out, "model \\\"a\\\\b\\\"\\nline2\\t\\u0001 end");
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace quiver::api
