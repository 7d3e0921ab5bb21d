#include "cli/bench_inputs.h"

#include <cstring>

#include <gtest/gtest.h>

#include "cli/bench_options.h"

namespace quiver::cli {
namespace {

using nlohmann::json;

TEST(BenchInputsTest, VariableDimsBecomeTheBatchFirstAndOneElsewhere) {
  EXPECT_EQ(concrete_shape({-1, 4}, 32), (Shape{32, 4}));
  EXPECT_EQ(concrete_shape({-1, -1, 3}, 8), (Shape{8, 1, 3}));
  EXPECT_EQ(concrete_shape({2, -1}, 8), (Shape{2, 1}));
  EXPECT_EQ(concrete_shape({}, 8), Shape{});
}

TEST(BenchInputsTest, SpecsComeFromModelMetadata) {
  const json metadata_inputs = json::parse(R"([
    {"name": "input", "datatype": "FP32", "shape": [-1, 4]},
    {"name": "ids", "datatype": "INT64", "shape": [-1, -1]}
  ])");
  auto specs = bench_inputs_from_specs(metadata_inputs, 16);
  ASSERT_TRUE(specs.is_ok()) << specs.status().to_string();
  ASSERT_EQ(specs->size(), 2u);
  EXPECT_EQ((*specs)[0].name, "input");
  EXPECT_EQ((*specs)[0].dtype, DataType::kFp32);
  EXPECT_EQ((*specs)[0].shape, (Shape{16, 4}));
  EXPECT_EQ((*specs)[1].dtype, DataType::kInt64);
  EXPECT_EQ((*specs)[1].shape, (Shape{16, 1}));
}

TEST(BenchInputsTest, AModelWithoutDeclaredInputsAsksForInputArguments) {
  auto specs = bench_inputs_from_specs(json::array(), 1);
  ASSERT_FALSE(specs.is_ok());
  EXPECT_EQ(specs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(specs.status().message().find("--input"), std::string::npos);

  auto bad_type = bench_inputs_from_specs(json::parse(R"([{"name": "x", "datatype": "FLOAT", "shape": [1]}])"), 1);
  ASSERT_FALSE(bad_type.is_ok());
  EXPECT_NE(bad_type.status().message().find("FLOAT"), std::string::npos);
}

TEST(BenchInputsTest, SpecsComeFromInputArguments) {
  auto specs = bench_inputs_from_args({"x:fp16:-1,3", "flag:BOOL:"}, 2);
  ASSERT_TRUE(specs.is_ok()) << specs.status().to_string();
  EXPECT_EQ((*specs)[0].dtype, DataType::kFp16);
  EXPECT_EQ((*specs)[0].shape, (Shape{2, 3}));
  EXPECT_EQ((*specs)[1].shape, Shape{});
  EXPECT_FALSE(bench_inputs_from_args({"x:FP32"}, 1).is_ok());
}

TEST(BenchInputsTest, RandomTensorsAreValidAndInRange) {
  std::mt19937_64 rng(1);
  for (DataType dtype : {DataType::kBool, DataType::kUint8, DataType::kInt32, DataType::kInt64, DataType::kFp16,
                         DataType::kFp32, DataType::kFp64, DataType::kBytes}) {
    const Tensor t = random_tensor({"x", dtype, {4, 3}}, rng);
    EXPECT_TRUE(t.validate().is_ok()) << datatype_name(dtype) << ": " << t.validate().to_string();
    EXPECT_EQ(t.element_count(), 12);
  }
  const Tensor floats = random_tensor({"x", DataType::kFp32, {1000}}, rng);
  for (float v : floats.values<float>()) {
    EXPECT_GE(v, -1.0f);
    EXPECT_LT(v, 1.0f);
  }
  const Tensor ints = random_tensor({"x", DataType::kInt64, {1000}}, rng);
  for (int64_t v : ints.values<int64_t>()) {
    EXPECT_GE(v, 0);
    EXPECT_LT(v, 100);
  }
}

TEST(BenchInputsTest, JsonBodyCarriesTheTensorValues) {
  std::mt19937_64 rng(3);
  const Tensor x = random_tensor({"input", DataType::kFp32, {2, 4}}, rng);
  const Tensor words = random_tensor({"words", DataType::kBytes, {2}}, rng);
  const BenchRequestBody encoded = encode_bench_request({x, words}, /*binary=*/false);
  EXPECT_FALSE(encoded.json_length.has_value());
  const json body = json::parse(encoded.body);
  ASSERT_EQ(body["inputs"].size(), 2u);
  const json& in = body["inputs"][0];
  EXPECT_EQ(in["name"], "input");
  EXPECT_EQ(in["datatype"], "FP32");
  EXPECT_EQ(in["shape"], json({2, 4}));
  ASSERT_EQ(in["data"].size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    // Shortest round-trip text: the server reads back exactly the float sent.
    EXPECT_EQ(in["data"][i].get<float>(), x.values<float>()[i]);
  }
  EXPECT_EQ(body["inputs"][1]["data"][0].get<std::string>().size(), 8u);
  EXPECT_FALSE(body.contains("parameters"));
}

TEST(BenchInputsTest, BinaryBodyIsTheJsonHeaderThenRawBytes) {
  std::mt19937_64 rng(4);
  const Tensor a = random_tensor({"a", DataType::kFp32, {3, 2}}, rng);
  const Tensor b = random_tensor({"b", DataType::kInt64, {3}}, rng);
  const BenchRequestBody encoded = encode_bench_request({a, b}, /*binary=*/true);
  ASSERT_TRUE(encoded.json_length.has_value());
  const json header = json::parse(encoded.body.substr(0, *encoded.json_length));
  EXPECT_EQ(header["inputs"][0]["parameters"]["binary_data_size"], 24);
  EXPECT_EQ(header["inputs"][1]["parameters"]["binary_data_size"], 24);
  EXPECT_FALSE(header["inputs"][0].contains("data"));
  EXPECT_EQ(header["parameters"]["binary_data_output"], true);
  const std::string raw = encoded.body.substr(*encoded.json_length);
  ASSERT_EQ(raw.size(), 48u);
  EXPECT_EQ(0, std::memcmp(raw.data(), a.bytes().data(), 24));
  EXPECT_EQ(0, std::memcmp(raw.data() + 24, b.bytes().data(), 24));
}

TEST(BenchInputsTest, TheSameSeedGivesTheSameRequest) {
  std::mt19937_64 first(9), second(9);
  const BenchInputSpec spec{"x", DataType::kFp32, {8, 8}};
  EXPECT_EQ(encode_bench_request({random_tensor(spec, first)}, false).body,
            encode_bench_request({random_tensor(spec, second)}, false).body);
}

TEST(BenchOptionsTest, DurationsTakeUnits) {
  using namespace std::chrono_literals;
  EXPECT_EQ(*parse_duration_arg("10s"), 10s);
  EXPECT_EQ(*parse_duration_arg("500ms"), 500ms);
  EXPECT_EQ(*parse_duration_arg("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration_arg("2m"), 120s);
  EXPECT_EQ(*parse_duration_arg("3"), 3s);
  for (const char* bad : {"", "s", "10x", "-1s", "0s", "ten"}) {
    auto parsed = parse_duration_arg(bad);
    EXPECT_FALSE(parsed.is_ok()) << bad;
  }
  // A warmup may be off; a measured window may not be empty.
  EXPECT_EQ(*parse_duration_arg("0", /*allow_zero=*/true), 0s);
  EXPECT_EQ(*parse_duration_arg("0ms", /*allow_zero=*/true), 0s);
  EXPECT_FALSE(parse_duration_arg("-1s", /*allow_zero=*/true).is_ok());
}

TEST(BenchOptionsTest, ConcurrencySweepKeepsTheOrderGiven) {
  EXPECT_EQ(*parse_concurrency_list("1,4,16"), (std::vector<int>{1, 4, 16}));
  EXPECT_EQ(*parse_concurrency_list(" 8 "), (std::vector<int>{8}));
  for (const char* bad : {"", "0", "1,,2", "4,x", "-3", "1,100000"}) {
    EXPECT_FALSE(parse_concurrency_list(bad).is_ok()) << bad;
  }
}

}  // namespace
}  // namespace quiver::cli
