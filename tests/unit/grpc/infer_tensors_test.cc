#include "api/grpc/infer_tensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

namespace quiver::grpc_api {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

ModelInferRequest::InferInputTensor* add_input(ModelInferRequest& req, const std::string& name,
                                               const std::string& dtype, std::vector<int64_t> shape) {
  auto* in = req.add_inputs();
  in->set_name(name);
  in->set_datatype(dtype);
  for (int64_t d : shape) in->add_shape(d);
  return in;
}

template <typename T>
std::string raw_bytes(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.data(), s.size());
  return s;
}

template <typename Field, typename T>
void fill(Field* field, std::initializer_list<T> values) {
  for (const T& v : values) field->Add(v);
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  auto v = t.values<T>();
  return {v.begin(), v.end()};
}

TEST(DecodeInputs, RawContentsBecomeTensorsInInputOrder) {
  ModelInferRequest req;
  add_input(req, "a", "FP32", {2, 2});
  add_input(req, "b", "INT64", {3});
  req.add_raw_input_contents(raw_bytes<float>({1.5f, -2.f, 3.f, 4.25f}));
  req.add_raw_input_contents(raw_bytes<int64_t>({7, -8, 9}));

  auto decoded = decode_inputs(req);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_FALSE(decoded->typed);
  ASSERT_EQ(decoded->tensors.size(), 2u);
  EXPECT_EQ(decoded->tensors[0].name(), "a");
  EXPECT_EQ(decoded->tensors[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(values_of<float>(decoded->tensors[0]), (std::vector<float>{1.5f, -2.f, 3.f, 4.25f}));
  EXPECT_EQ(decoded->tensors[1].dtype(), DataType::kInt64);
  EXPECT_EQ(values_of<int64_t>(decoded->tensors[1]), (std::vector<int64_t>{7, -8, 9}));
}

TEST(DecodeInputs, RawSizeMismatchNamesInputAndSizes) {
  ModelInferRequest req;
  add_input(req, "x", "FP32", {1, 4});
  req.add_raw_input_contents(std::string(12, '\0'));
  auto decoded = decode_inputs(req);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(decoded.status().message(), "input 'x': raw_input_contents[0] has 12 bytes but FP32 shape [1, 4] needs 16");
}

TEST(DecodeInputs, RawEntryCountMustMatchInputs) {
  ModelInferRequest req;
  add_input(req, "x", "FP32", {1});
  add_input(req, "y", "FP32", {1});
  req.add_raw_input_contents(raw_bytes<float>({1.f}));
  auto decoded = decode_inputs(req);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("1 entries but the request has 2 inputs"), std::string::npos);
}

TEST(DecodeInputs, RawAndTypedCannotBeMixed) {
  ModelInferRequest req;
  add_input(req, "x", "FP32", {1});
  add_input(req, "y", "FP32", {1})->mutable_contents()->add_fp32_contents(2.f);
  req.add_raw_input_contents(raw_bytes<float>({1.f}));
  req.add_raw_input_contents(raw_bytes<float>({2.f}));
  auto decoded = decode_inputs(req);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("input 'y' has values in contents.fp32_contents"), std::string::npos);
}

TEST(DecodeInputs, TypedContentsOfEveryFixedWidthType) {
  ModelInferRequest req;
  auto* b = add_input(req, "b", "BOOL", {3})->mutable_contents();
  b->add_bool_contents(true), b->add_bool_contents(false), b->add_bool_contents(true);
  fill(add_input(req, "i8", "INT8", {2})->mutable_contents()->mutable_int_contents(), {-128, 127});
  add_input(req, "u16", "UINT16", {1})->mutable_contents()->add_uint_contents(65535);
  add_input(req, "u64", "UINT64", {1})->mutable_contents()->add_uint64_contents(~0ull);
  fill(add_input(req, "f64", "FP64", {2})->mutable_contents()->mutable_fp64_contents(), {0.5, -1e300});

  auto decoded = decode_inputs(req);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_TRUE(decoded->typed);
  const auto& t = decoded->tensors;
  EXPECT_EQ(values_of<uint8_t>(t[0]), (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(values_of<int8_t>(t[1]), (std::vector<int8_t>{-128, 127}));
  EXPECT_EQ(values_of<uint16_t>(t[2]), (std::vector<uint16_t>{65535}));
  EXPECT_EQ(values_of<uint64_t>(t[3]), (std::vector<uint64_t>{~0ull}));
  EXPECT_EQ(values_of<double>(t[4]), (std::vector<double>{0.5, -1e300}));
}

TEST(DecodeInputs, TypedValueOutOfRangeIsRefused) {
  ModelInferRequest req;
  fill(add_input(req, "x", "UINT8", {2})->mutable_contents()->mutable_uint_contents(), {1u, 256u});
  auto decoded = decode_inputs(req);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().message(), "input 'x': value 256 at index 1 is out of range for UINT8");
}

TEST(DecodeInputs, TypedCountAndFieldAreChecked) {
  ModelInferRequest few;
  fill(add_input(few, "x", "FP32", {2, 2})->mutable_contents()->mutable_fp32_contents(), {1.f, 2.f, 3.f});
  auto decoded = decode_inputs(few);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().message(), "input 'x' has 3 values in contents.fp32_contents but shape [2, 2] needs 4");

  ModelInferRequest wrong_field;
  add_input(wrong_field, "x", "INT64", {1})->mutable_contents()->add_int_contents(1);
  decoded = decode_inputs(wrong_field);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().message(),
            "input 'x' is INT64, whose values go in contents.int64_contents, but it has values in contents.int_contents");
}

TEST(DecodeInputs, Fp16OnlyTravelsRaw) {
  ModelInferRequest typed;
  add_input(typed, "h", "FP16", {1})->mutable_contents()->add_fp32_contents(1.f);
  auto decoded = decode_inputs(typed);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("send its bytes in raw_input_contents"), std::string::npos);

  ModelInferRequest raw;
  add_input(raw, "h", "FP16", {2});
  raw.add_raw_input_contents(raw_bytes<uint16_t>({0x3c00, 0xc000}));
  decoded = decode_inputs(raw);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  EXPECT_EQ(values_of<uint16_t>(decoded->tensors[0]), (std::vector<uint16_t>{0x3c00, 0xc000}));
}

TEST(DecodeInputs, BytesTypedAndRawAgree) {
  ModelInferRequest typed;
  auto* c = add_input(typed, "s", "BYTES", {2})->mutable_contents();
  c->add_bytes_contents("hi");
  c->add_bytes_contents(std::string("\0x", 2));
  auto from_typed = decode_inputs(typed);
  ASSERT_TRUE(from_typed.is_ok()) << from_typed.status().to_string();

  ModelInferRequest raw;
  add_input(raw, "s", "BYTES", {2});
  const auto& t = from_typed->tensors[0];
  raw.add_raw_input_contents(std::string(reinterpret_cast<const char*>(t.bytes().data()), t.byte_size()));
  auto from_raw = decode_inputs(raw);
  ASSERT_TRUE(from_raw.is_ok()) << from_raw.status().to_string();
  auto elements = bytes_elements(from_raw->tensors[0]);
  ASSERT_TRUE(elements.is_ok());
  EXPECT_EQ(*elements, (std::vector<std::string_view>{"hi", std::string_view("\0x", 2)}));

  ModelInferRequest broken;
  add_input(broken, "s", "BYTES", {1});
  broken.add_raw_input_contents(std::string("\x09\0\0\0ab", 6));
  EXPECT_FALSE(decode_inputs(broken).is_ok());
}

TEST(DecodeInputs, BadDatatypeAndShapeAreNamed) {
  ModelInferRequest req;
  add_input(req, "x", "FP8", {1});
  auto decoded = decode_inputs(req);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("input 'x' has unknown datatype 'FP8'"), std::string::npos);

  ModelInferRequest neg;
  add_input(neg, "x", "FP32", {-1, 4});
  decoded = decode_inputs(neg);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().message(), "input 'x' has dimension 0 = -1; dimensions must not be negative");
}

TEST(DecodeInputs, LimitsOnInputsDimensionsAndBytesComeFirst) {
  TensorLimits limits;
  limits.max_tensors = 2;
  limits.max_dims = 3;
  limits.max_tensor_bytes = 64;
  ModelInferRequest many;
  for (const char* name : {"a", "b", "c"}) add_input(many, name, "FP32", {1});
  auto decoded = decode_inputs(many, limits);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("at most 2"), std::string::npos) << decoded.status().message();

  ModelInferRequest deep;
  add_input(deep, "x", "FP32", {1, 1, 1, 1});
  decoded = decode_inputs(deep, limits);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("at most 3"), std::string::npos) << decoded.status().message();

  ModelInferRequest big;
  add_input(big, "x", "FP32", {17});  // 68 bytes declared, no values sent
  decoded = decode_inputs(big, limits);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_NE(decoded.status().message().find("limit of 64 bytes"), std::string::npos) << decoded.status().message();

  ModelInferRequest wraps;  // 2^62 x 4 bytes: 2^64, which wraps to 0 in 64 bits
  add_input(wraps, "x", "FP32", {int64_t{1} << 62});
  wraps.add_raw_input_contents("");
  decoded = decode_inputs(wraps);
  ASSERT_FALSE(decoded.is_ok());
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
}

TEST(EncodeOutputs, RawByDefaultTypedWhenAskedRawForFp16) {
  const std::vector<float> probs{0.25f, 0.75f};
  const std::vector<Tensor> outputs{Tensor::from_values<float>("p", DataType::kFp32, {1, 2}, probs)};

  ModelInferResponse raw;
  encode_outputs(outputs, /*typed=*/false, raw);
  ASSERT_EQ(raw.outputs_size(), 1);
  EXPECT_EQ(raw.outputs(0).name(), "p");
  EXPECT_EQ(raw.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(raw.outputs(0).shape().begin(), raw.outputs(0).shape().end()),
            (std::vector<int64_t>{1, 2}));
  ASSERT_EQ(raw.raw_output_contents_size(), 1);
  EXPECT_EQ(raw.raw_output_contents(0), raw_bytes(probs));

  ModelInferResponse typed;
  encode_outputs(outputs, /*typed=*/true, typed);
  EXPECT_EQ(typed.raw_output_contents_size(), 0);
  const auto& fp32 = typed.outputs(0).contents().fp32_contents();
  EXPECT_EQ(std::vector<float>(fp32.begin(), fp32.end()), probs);

  const std::vector<uint16_t> half{0x3c00};
  std::vector<Tensor> mixed = outputs;
  mixed.push_back(Tensor::from_values<uint16_t>("h", DataType::kFp16, {1}, half));
  ModelInferResponse fallback;
  encode_outputs(mixed, /*typed=*/true, fallback);
  EXPECT_EQ(fallback.raw_output_contents_size(), 2);
  EXPECT_EQ(fallback.outputs(0).contents().fp32_contents_size(), 0);
}

TEST(DecodeParameters, KeepsTypesAndWidensLargeUnsigned) {
  ProtoParameters p;
  p["flag"].set_bool_param(true);
  p["n"].set_int64_param(-3);
  p["s"].set_string_param("DE");
  p["d"].set_double_param(2.5);
  p["u"].set_uint64_param(42);
  p["big"].set_uint64_param(~0ull);
  p["unset"];
  const Params params = decode_parameters(p);
  EXPECT_EQ(params.at("flag"), ParamValue(true));
  EXPECT_EQ(params.at("n"), ParamValue(int64_t{-3}));
  EXPECT_EQ(params.at("s"), ParamValue(std::string("DE")));
  EXPECT_EQ(params.at("d"), ParamValue(2.5));
  EXPECT_EQ(params.at("u"), ParamValue(int64_t{42}));
  EXPECT_EQ(params.at("big"), ParamValue(static_cast<double>(~0ull)));
  EXPECT_EQ(params.count("unset"), 0u);
}

}  // namespace
}  // namespace quiver::grpc_api
