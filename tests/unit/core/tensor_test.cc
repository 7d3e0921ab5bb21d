#include "core/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace quiver {
namespace {

std::vector<std::byte> raw(std::initializer_list<uint8_t> bytes) {
  std::vector<std::byte> out;
  for (uint8_t b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST(TensorValidate, AcceptsBytesMatchingShapeAndDtype) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  Tensor t = Tensor::from_values<float>("x", DataType::kFp32, {2, 3}, v);
  EXPECT_TRUE(t.validate().is_ok());
  EXPECT_EQ(t.element_count(), 6);
  EXPECT_EQ(t.byte_size(), 24u);
  EXPECT_EQ(t.values<float>()[5], 6.0f);
}

TEST(TensorValidate, RejectsByteSizeThatDisagreesWithShape) {
  const std::vector<float> v = {1, 2, 3, 4, 5};
  Tensor t = Tensor::from_values<float>("x", DataType::kFp32, {2, 3}, v);
  Status st = t.validate();
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "tensor 'x' has 20 bytes but shape [2, 3] of FP32 needs 24");
}

TEST(TensorValidate, ChecksEveryFixedSizeDtypeBySize) {
  // INT64 [3] needs 24 bytes; 12 would be right for INT32 but not here.
  Tensor wrong("i", DataType::kInt64, {3}, std::vector<std::byte>(12));
  EXPECT_EQ(wrong.validate().code(), StatusCode::kInvalidArgument);
  Tensor right("i", DataType::kInt64, {3}, std::vector<std::byte>(24));
  EXPECT_TRUE(right.validate().is_ok());
  Tensor half("h", DataType::kFp16, {2, 2}, std::vector<std::byte>(8));
  EXPECT_TRUE(half.validate().is_ok());
}

TEST(TensorValidate, RejectsNegativeDimension) {
  Tensor t("x", DataType::kFp32, {-1, 2}, std::vector<std::byte>(8));
  Status st = t.validate();
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("invalid shape [-1, 2]"), std::string::npos) << st.message();
}

TEST(TensorValidate, EmptyShapeIsAScalar) {
  const std::vector<int32_t> v = {7};
  EXPECT_TRUE(Tensor::from_values<int32_t>("s", DataType::kInt32, {}, v).validate().is_ok());
  EXPECT_FALSE(Tensor("s", DataType::kInt32, {}, {}).validate().is_ok());
}

TEST(TensorValidate, ZeroElementTensorNeedsNoBytes) {
  EXPECT_TRUE(Tensor("z", DataType::kFp32, {0, 2}, {}).validate().is_ok());
  EXPECT_FALSE(Tensor("z", DataType::kFp32, {0, 2}, std::vector<std::byte>(4)).validate().is_ok());
}

TEST(TensorValidate, BytesTensorElementCountMustMatchShape) {
  const std::vector<std::string> words = {"a", "bc", ""};
  Tensor ok("b", DataType::kBytes, {3}, encode_bytes_elements(words));
  EXPECT_TRUE(ok.validate().is_ok());
  Tensor wrong_count("b", DataType::kBytes, {2, 2}, encode_bytes_elements(words));
  Status st = wrong_count.validate();
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "tensor 'b' has 3 BYTES elements but shape [2, 2] needs 4");
}

TEST(TensorValidate, RejectsTruncatedBytesLengthPrefix) {
  // One complete element "a", then only two of the four length bytes.
  Tensor t("b", DataType::kBytes, {2}, raw({1, 0, 0, 0, 'a', 1, 0}));
  Status st = t.validate();
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("truncated BYTES length prefix"), std::string::npos) << st.message();
}

TEST(TensorValidate, RejectsBytesElementOverrunningTheData) {
  Tensor t("b", DataType::kBytes, {1}, raw({5, 0, 0, 0, 'a', 'b'}));
  Status st = t.validate();
  ASSERT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("overruns"), std::string::npos) << st.message();
}

TEST(BytesElements, RoundTripsIncludingEmptyAndBinaryStrings) {
  const std::vector<std::string> in = {"hello", "", std::string("\0\xff\n", 3), std::string(300, 'z')};
  const auto payload = encode_bytes_elements(in);
  EXPECT_EQ(payload.size(), 4 * 4 + 5 + 0 + 3 + 300);
  Tensor t("b", DataType::kBytes, {4}, payload);
  auto out = bytes_elements(t);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ((*out)[i], in[i]) << "element " << i;
}

TEST(BytesElements, LengthPrefixIsLittleEndian) {
  const std::vector<std::string> in = {std::string(258, 'q')};
  const auto payload = encode_bytes_elements(in);
  EXPECT_EQ(payload[0], std::byte{2});
  EXPECT_EQ(payload[1], std::byte{1});
  EXPECT_EQ(payload[2], std::byte{0});
  EXPECT_EQ(payload[3], std::byte{0});
}

TEST(BytesElements, EmptyPayloadHasNoElements) {
  auto out = bytes_elements(Tensor("b", DataType::kBytes, {0}, {}));
  ASSERT_TRUE(out.is_ok());
  EXPECT_TRUE(out->empty());
}

TEST(Datatype, NameAndParseRoundTripForEveryType) {
  const DataType all[] = {DataType::kBool,  DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
                          DataType::kInt8,  DataType::kInt16, DataType::kInt32,  DataType::kInt64,  DataType::kFp16,
                          DataType::kFp32,  DataType::kFp64,  DataType::kBytes};
  for (DataType d : all) {
    const auto name = datatype_name(d);
    auto parsed = parse_datatype(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(*parsed, d) << name;
  }
  EXPECT_EQ(datatype_name(DataType::kFp32), "FP32");
  EXPECT_EQ(datatype_name(DataType::kInt64), "INT64");
  EXPECT_EQ(datatype_name(DataType::kBytes), "BYTES");
}

TEST(Datatype, ParseRejectsUnknownAndWrongCase) {
  EXPECT_FALSE(parse_datatype("fp32").has_value());
  EXPECT_FALSE(parse_datatype("FLOAT").has_value());
  EXPECT_FALSE(parse_datatype("").has_value());
}

TEST(Datatype, Sizes) {
  EXPECT_EQ(datatype_size(DataType::kBool), 1u);
  EXPECT_EQ(datatype_size(DataType::kFp16), 2u);
  EXPECT_EQ(datatype_size(DataType::kFp32), 4u);
  EXPECT_EQ(datatype_size(DataType::kUint64), 8u);
  EXPECT_EQ(datatype_size(DataType::kBytes), 0u);
}

TEST(ElementCount, ProductOfDims) {
  EXPECT_EQ(element_count({}), 1);
  EXPECT_EQ(element_count({2, 3, 4}), 24);
  EXPECT_EQ(element_count({5, 0, 7}), 0);
}

TEST(ElementCount, NegativeDimIsNullopt) { EXPECT_FALSE(element_count({2, -1}).has_value()); }

TEST(ElementCount, OverflowIsNullopt) {
  const int64_t big = int64_t{1} << 32;
  EXPECT_FALSE(element_count({big, big}).has_value());
  EXPECT_FALSE(element_count({std::numeric_limits<int64_t>::max(), 2}).has_value());
  EXPECT_EQ(element_count({std::numeric_limits<int64_t>::max(), 1}), std::numeric_limits<int64_t>::max());
}

TEST(ElementCount, TensorWithOverflowingShapeFailsValidation) {
  const int64_t big = int64_t{1} << 40;
  Tensor t("x", DataType::kFp32, {big, big}, {});
  EXPECT_EQ(t.element_count(), -1);
  EXPECT_EQ(t.validate().code(), StatusCode::kInvalidArgument);
}

TEST(ElementCount, ByteCountOverflowFailsValidationEvenWhenElementsFit) {
  // 2^61 elements fit in int64, but 2^61 * 8 bytes wraps to 0 in 64 bits: an empty
  // payload must not pass for it.
  Tensor t("x", DataType::kFp64, {int64_t{1} << 61}, {});
  EXPECT_EQ(t.validate().code(), StatusCode::kInvalidArgument);
}

TEST(DeclaredShape, LimitsDimsBytesAndNegatives) {
  TensorLimits limits;
  limits.max_dims = 4;
  limits.max_tensor_bytes = 1 << 20;
  EXPECT_TRUE(check_declared_shape("x", DataType::kFp32, {512, 512}, limits).is_ok());  // exactly 1 MiB
  EXPECT_FALSE(check_declared_shape("x", DataType::kFp32, {512, 513}, limits).is_ok());
  EXPECT_FALSE(check_declared_shape("x", DataType::kUint8, {1, 1, 1, 1, 1}, limits).is_ok());
  EXPECT_FALSE(check_declared_shape("x", DataType::kUint8, {4, -1}, limits).is_ok());
  const int64_t big = int64_t{1} << 62;
  limits.max_tensor_bytes = std::numeric_limits<uint64_t>::max();
  EXPECT_FALSE(check_declared_shape("x", DataType::kFp64, {big}, limits).is_ok()) << "2^62 * 8 overflows";
  EXPECT_FALSE(check_declared_shape("x", DataType::kUint8, {big, big}, limits).is_ok());
  EXPECT_TRUE(check_declared_shape("x", DataType::kUint8, {0, big, big}, limits).is_ok()) << "no elements";
  // BYTES elements take at least their 4-byte length prefix.
  limits.max_tensor_bytes = 400;
  EXPECT_TRUE(check_declared_shape("s", DataType::kBytes, {100}, limits).is_ok());
  EXPECT_FALSE(check_declared_shape("s", DataType::kBytes, {101}, limits).is_ok());
}

TEST(ShapeToString, Formats) {
  EXPECT_EQ(shape_to_string({}), "[]");
  EXPECT_EQ(shape_to_string({2, -1}), "[2, -1]");
}

TEST(TensorView, SharesOwnerMemoryWithoutCopy) {
  auto owner = std::make_shared<std::vector<std::byte>>(raw({0, 0, 128, 63, 0, 0, 0, 64}));  // 1.0f, 2.0f
  const std::byte* data = owner->data();
  Tensor t = Tensor::view("v", DataType::kFp32, {2}, owner, data, owner->size());
  std::weak_ptr<std::vector<std::byte>> weak = owner;
  owner.reset();
  EXPECT_FALSE(weak.expired()) << "the view must keep its owner alive";
  EXPECT_EQ(t.bytes().data(), data);
  EXPECT_EQ(t.values<float>()[0], 1.0f);
  EXPECT_EQ(t.values<float>()[1], 2.0f);
  EXPECT_TRUE(t.validate().is_ok());
}

}  // namespace
}  // namespace quiver
