// The spec fields of on-demand loading and autoscaling (`load`, `instances: {min,
// max}`, `memory_budget`), the byte sizes they are written in, and the page tokens of
// the paginated listings.
#include <gtest/gtest.h>

#include "registry/deployment_spec_json.h"
#include "registry/page_token.h"
#include "registry/serving_options_json.h"

namespace quiver::registry {
namespace {

TEST(OnDemandSpec, ParsesLoadInstancesRangeAndBudgetAndRoundTrips) {
  auto spec = parse_deployment_spec(R"({"versions": [
      {"version": "1", "load": "on_demand", "instances": {"min": 1, "max": 4}},
      {"version": "2", "instances": 2}], "memory_budget": "512Mi"})");
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  EXPECT_EQ(spec->versions[0].load, LoadPolicy::kOnDemand);
  EXPECT_EQ(spec->versions[0].instances, 1);
  EXPECT_EQ(spec->versions[0].max_instances, 4);
  EXPECT_EQ(spec->versions[1].load, LoadPolicy::kEager);
  EXPECT_EQ(spec->versions[1].instances, 2);
  EXPECT_EQ(spec->versions[1].max_instances, 0) << "the plain integer form stays fixed";
  EXPECT_EQ(spec->memory_budget_bytes, int64_t{512} << 20);

  const std::string text = serialize_deployment_spec(*spec);
  EXPECT_NE(text.find(R"("memory_budget":"512Mi")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("load":"on_demand")"), std::string::npos) << text;
  auto again = parse_deployment_spec(text);
  ASSERT_TRUE(again.is_ok()) << again.status().to_string();
  EXPECT_EQ(*again, *spec);
}

TEST(OnDemandSpec, RejectsBadValuesWithTheFieldNamed) {
  auto bad = [](const std::string& json) { return parse_deployment_spec(json).status().message(); };
  EXPECT_NE(bad(R"({"versions": [{"version": "1", "load": "lazy"}]})").find("versions[0].load"), std::string::npos);
  EXPECT_NE(bad(R"({"versions": [{"version": "1", "instances": {"min": 3, "max": 2}}]})").find("instances.max"),
            std::string::npos);
  EXPECT_NE(bad(R"({"versions": [{"version": "1", "instances": {"min": 1}}]})").find("instances.max"),
            std::string::npos);
  EXPECT_NE(bad(R"({"versions": [{"version": "1", "instances": {"max": 2, "step": 1}}]})").find("step"),
            std::string::npos);
  EXPECT_NE(bad(R"({"versions": [{"version": "1"}], "memory_budget": "lots"})").find("memory_budget"),
            std::string::npos);
  EXPECT_NE(bad(R"({"versions": [{"version": "1"}], "memory_budget": -1})").find("memory_budget"), std::string::npos);
}

TEST(ByteSize, ParsesBinaryAndDecimalSuffixesAndFormatsExactly) {
  EXPECT_EQ(parse_byte_size("4Gi").value(), int64_t{4} << 30);
  EXPECT_EQ(parse_byte_size("100M").value(), 100'000'000);
  EXPECT_EQ(parse_byte_size("64Ki").value(), 65536);
  EXPECT_EQ(parse_byte_size("2048").value(), 2048);
  EXPECT_EQ(parse_byte_size("2048B").value(), 2048);
  EXPECT_FALSE(parse_byte_size("").is_ok());
  EXPECT_FALSE(parse_byte_size("4 Gi").is_ok());
  EXPECT_FALSE(parse_byte_size("4Pi").is_ok());
  EXPECT_FALSE(parse_byte_size("999999999999999Ti").is_ok()) << "overflow";
  EXPECT_EQ(format_byte_size(int64_t{512} << 20), "512Mi");
  EXPECT_EQ(format_byte_size(1000), "1000");
  EXPECT_EQ(format_byte_size(int64_t{3} << 30), "3Gi");
  // Whatever parses formats to something that parses back to the same size (a long
  // fuzz run found "5124294967295M" written out as 19 plain digits that were refused).
  for (const char* text : {"5124294967295M", "9223372036854775807", "9000000T", "1"}) {
    const int64_t bytes = parse_byte_size(text).value();
    EXPECT_EQ(parse_byte_size(format_byte_size(bytes)).value(), bytes) << text;
  }
  EXPECT_FALSE(parse_byte_size("9223372036854775808").is_ok()) << "overflow";
}

TEST(PageToken, RoundTripsAndRefusesForeignOrMixedTokens) {
  EXPECT_EQ(parse_model_page_token(model_page_token("fraud/eu-west")).value(), "fraud/eu-west");
  EXPECT_EQ(parse_version_page_token(version_page_token(1234)).value(), 1234);
  EXPECT_FALSE(parse_model_page_token(version_page_token(3)).is_ok()) << "a versions token on the models listing";
  EXPECT_FALSE(parse_version_page_token(model_page_token("m")).is_ok());
  EXPECT_FALSE(parse_model_page_token("zz").is_ok());
  EXPECT_FALSE(parse_model_page_token("abc").is_ok());
  EXPECT_EQ(parse_page_limit("", 100, 1000).value(), 100u);
  EXPECT_EQ(parse_page_limit("7", 100, 1000).value(), 7u);
  EXPECT_FALSE(parse_page_limit("0", 100, 1000).is_ok());
  EXPECT_FALSE(parse_page_limit("1001", 100, 1000).is_ok());
  EXPECT_FALSE(parse_page_limit("5x", 100, 1000).is_ok());
}

}  // namespace
}  // namespace quiver::registry
