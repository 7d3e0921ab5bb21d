#include "cli/tensor_args.h"

#include <gtest/gtest.h>

namespace quiver::cli {
namespace {

using nlohmann::json;

TEST(TensorSpecArgTest, ParsesNameDatatypeAndDims) {
  auto spec = parse_tensor_spec_arg("pixels:fp32:-1,3,224,224");
  ASSERT_TRUE(spec.is_ok()) << spec.status().to_string();
  EXPECT_EQ(*spec, (json{{"name", "pixels"}, {"datatype", "FP32"}, {"shape", {-1, 3, 224, 224}}}));

  auto scalar = parse_tensor_spec_arg("temperature:FP64:");
  ASSERT_TRUE(scalar.is_ok());
  EXPECT_EQ((*scalar)["shape"], json::array());
}

TEST(TensorSpecArgTest, RejectsMalformedSpecsWithTheArgumentQuoted) {
  for (const char* bad : {"x:FP32", "x:FLOAT:1", ":FP32:1", "x:FP32:1,a", "x:FP32:-2", "x:FP32:1:2"}) {
    auto spec = parse_tensor_spec_arg(bad);
    ASSERT_FALSE(spec.is_ok()) << bad;
    EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(spec.status().message().find(bad), std::string::npos) << spec.status().message();
  }
}

TEST(TensorValueArgTest, TypesValuesByDatatype) {
  auto floats = parse_tensor_value_arg("x:FP32:2,2=1,2.5,-3,4e-1");
  ASSERT_TRUE(floats.is_ok()) << floats.status().to_string();
  EXPECT_EQ(*floats, (json{{"name", "x"}, {"datatype", "FP32"}, {"shape", {2, 2}},
                           {"data", {1.0, 2.5, -3.0, 0.4}}}));

  auto ints = parse_tensor_value_arg("ids:INT64:3=1, -2 ,3");
  ASSERT_TRUE(ints.is_ok()) << ints.status().to_string();
  EXPECT_EQ((*ints)["data"], json({1, -2, 3}));
  EXPECT_TRUE((*ints)["data"][0].is_number_integer());

  auto bools = parse_tensor_value_arg("mask:BOOL:3=true,0,FALSE");
  ASSERT_TRUE(bools.is_ok());
  EXPECT_EQ((*bools)["data"], json({true, false, false}));

  auto text = parse_tensor_value_arg("prompt:BYTES:2=hello world,a=b");
  ASSERT_TRUE(text.is_ok());
  EXPECT_EQ((*text)["data"], json({"hello world", "a=b"}));
}

TEST(TensorValueArgTest, WorksOutOneVariableDimension) {
  auto input = parse_tensor_value_arg("x:FP32:-1,2=1,2,3,4,5,6");
  ASSERT_TRUE(input.is_ok()) << input.status().to_string();
  EXPECT_EQ((*input)["shape"], json({3, 2}));

  auto uneven = parse_tensor_value_arg("x:FP32:-1,4=1,2,3");
  ASSERT_FALSE(uneven.is_ok());
  auto two = parse_tensor_value_arg("x:FP32:-1,-1=1,2");
  EXPECT_FALSE(two.is_ok());
}

TEST(TensorValueArgTest, RejectsWrongCountsAndValues) {
  auto count = parse_tensor_value_arg("x:FP32:2,2=1,2,3");
  ASSERT_FALSE(count.is_ok());
  EXPECT_NE(count.status().message().find("needs 4 values, got 3"), std::string::npos)
      << count.status().message();

  EXPECT_FALSE(parse_tensor_value_arg("x:UINT8:1=256").is_ok());
  EXPECT_FALSE(parse_tensor_value_arg("x:UINT8:1=-1").is_ok());
  EXPECT_FALSE(parse_tensor_value_arg("x:INT8:1=-129").is_ok());
  EXPECT_TRUE(parse_tensor_value_arg("x:INT8:1=-128").is_ok());
  EXPECT_FALSE(parse_tensor_value_arg("x:FP32:1=abc").is_ok());
  EXPECT_FALSE(parse_tensor_value_arg("x:BOOL:1=yes").is_ok());
  EXPECT_FALSE(parse_tensor_value_arg("x:FP32:1").is_ok()) << "values are required";
}

TEST(KeyValueArgTest, SplitsAtTheFirstEquals) {
  auto kv = parse_key_value_arg("source=s3://bucket/a=b");
  ASSERT_TRUE(kv.is_ok());
  EXPECT_EQ(kv->first, "source");
  EXPECT_EQ(kv->second, "s3://bucket/a=b");
  EXPECT_FALSE(parse_key_value_arg("novalue").is_ok());
  EXPECT_FALSE(parse_key_value_arg("=x").is_ok());
}

TEST(HeaderArgTest, SplitsAtTheFirstColonAndTrimsTheValue) {
  auto header = parse_header_arg("x-user-id: 42:a");
  ASSERT_TRUE(header.is_ok());
  EXPECT_EQ(header->first, "x-user-id");
  EXPECT_EQ(header->second, "42:a");
  EXPECT_FALSE(parse_header_arg("no colon").is_ok());
  EXPECT_FALSE(parse_header_arg("bad name:1").is_ok());
}

}  // namespace
}  // namespace quiver::cli
