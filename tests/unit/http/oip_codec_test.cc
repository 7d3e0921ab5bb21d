#include "api/http/oip_codec.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace quiver::http {
namespace {

std::shared_ptr<const std::string> body_of(std::string s) { return std::make_shared<const std::string>(std::move(s)); }

Result<InferRequestData> parse(std::string json) { return parse_infer_request(body_of(std::move(json)), std::nullopt); }

// A request with one input whose fields are spliced in verbatim.
std::string one_input(std::string_view datatype, std::string_view shape, std::string_view data) {
  return "{\"inputs\":[{\"name\":\"x\",\"datatype\":\"" + std::string(datatype) + "\",\"shape\":" + std::string(shape) +
         ",\"data\":" + std::string(data) + "}]}";
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  std::vector<T> v(t.byte_size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.bytes().data(), t.byte_size());
  return v;
}

template <typename T>
Tensor make(std::string name, DataType dtype, std::vector<T> values) {
  const auto n = static_cast<int64_t>(values.size());
  return Tensor::from_values<T>(std::move(name), dtype, {n}, values);
}

std::string bytes_text(const Tensor& t) { return {reinterpret_cast<const char*>(t.bytes().data()), t.byte_size()}; }

void expect_invalid(const Result<InferRequestData>& r, std::string_view message_part) {
  ASSERT_FALSE(r.is_ok()) << "expected an error containing: " << message_part;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(message_part), std::string::npos) << r.status().message();
}

TEST(OipCodecTest, ParsesFlatAndNestedDataToTheSameRowMajorBytes) {
  auto flat = parse(one_input("FP32", "[2,3]", "[1,2,3,4,5,6.5]"));
  auto nested = parse(one_input("FP32", "[2,3]", "[[1,2,3],[4,5,6.5]]"));
  auto ragged = parse(one_input("FP32", "[2,3]", "[[1],[2,[3,4]],5,[[6.5]]]"));
  ASSERT_TRUE(flat.is_ok()) << flat.status().to_string();
  ASSERT_TRUE(nested.is_ok()) << nested.status().to_string();
  ASSERT_TRUE(ragged.is_ok()) << ragged.status().to_string();
  const Tensor& t = flat->inputs.at(0);
  EXPECT_EQ(t.name(), "x");
  EXPECT_EQ(t.dtype(), DataType::kFp32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_of<float>(t), (std::vector<float>{1, 2, 3, 4, 5, 6.5f}));
  EXPECT_EQ(bytes_text(nested->inputs.at(0)), bytes_text(t));
  EXPECT_EQ(bytes_text(ragged->inputs.at(0)), bytes_text(t));
}

TEST(OipCodecTest, ReadsIdRequestedOutputsAndIgnoresUnknownFields) {
  auto r = parse(R"({"id":"req-1","extension":{"deep":[1,{"a":null}]},
    "inputs":[{"name":"x","datatype":"INT32","shape":[1],"data":[7]}],
    "outputs":[{"name":"b","parameters":{"binary_data":true}},{"name":"a"}]})");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r->id, "req-1");
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0].name, "b");
  EXPECT_TRUE(r->outputs[0].binary);
  EXPECT_EQ(r->outputs[1].name, "a");
  EXPECT_FALSE(r->outputs[1].binary);
  EXPECT_FALSE(r->binary_output_all);
  EXPECT_EQ(values_of<int32_t>(r->inputs[0]), std::vector<int32_t>{7});
}

TEST(OipCodecTest, ParsesRequestParametersOfEveryType) {
  auto r = parse(R"({"parameters":{"flag":true,"n":-3,"big":18446744073709551615,"x":2.5,"s":"canary",
    "list":[1, "two"],"obj":{"k": [true]},"gone":null,"binary_data_output":true},
    "inputs":[{"name":"x","datatype":"BOOL","shape":[1],"data":[true]}]})");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const Params& p = r->parameters;
  EXPECT_EQ(std::get<bool>(p.at("flag")), true);
  EXPECT_EQ(std::get<int64_t>(p.at("n")), -3);
  EXPECT_EQ(std::get<double>(p.at("big")), 18446744073709551615.0);
  EXPECT_EQ(std::get<double>(p.at("x")), 2.5);
  EXPECT_EQ(std::get<std::string>(p.at("s")), "canary");
  EXPECT_EQ(std::get<std::string>(p.at("list")), R"([1,"two"])");
  EXPECT_EQ(std::get<std::string>(p.at("obj")), R"({"k":[true]})");
  EXPECT_FALSE(p.contains("gone"));
  EXPECT_TRUE(r->binary_output_all);

  expect_invalid(parse(R"({"parameters":{"binary_data_output":"yes"},"inputs":[]})"),
                 "'binary_data_output' must be a boolean");
  expect_invalid(parse(R"({"parameters":[1],"inputs":[]})"), "'parameters' must be an object");
}

TEST(OipCodecTest, ReportsOutOfRangeAndNonIntegralNumbersPrecisely) {
  auto r = parse(one_input("UINT8", "[4]", "[0,1,255,300]"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "input 'x' element 3: 300 is out of range for UINT8");

  expect_invalid(parse(one_input("INT32", "[2]", "[1,1.5]")), "input 'x' element 1: 1.5 is not an integer");
  expect_invalid(parse(one_input("INT8", "[2]", "[-128,-129]")), "element 1: -129 is out of range for INT8");
  expect_invalid(parse(one_input("UINT32", "[1]", "[-1]")), "-1 is out of range for UINT32");
  expect_invalid(parse(one_input("INT64", "[1]", "[9223372036854775808]")), "out of range for INT64");
  expect_invalid(parse(one_input("UINT16", "[1]", "[65536]")), "65536 is out of range for UINT16");
  expect_invalid(parse(one_input("FP16", "[1]", "[70000]")), "70000 is out of range for FP16");
  expect_invalid(parse(one_input("FP32", "[1]", "[1e39]")), "out of range for FP32");
  expect_invalid(parse(one_input("INT32", "[1]", "[\"7\"]")), "expected a number for INT32, got a string");
  expect_invalid(parse(one_input("FP32", "[1]", "[{}]")), "expected a number for FP32, got an object");

  // Integral floats are integers; values at the very edges are accepted.
  auto ok = parse(one_input("INT16", "[3]", "[2.0,-32768,32767]"));
  ASSERT_TRUE(ok.is_ok()) << ok.status().to_string();
  EXPECT_EQ(values_of<int16_t>(ok->inputs[0]), (std::vector<int16_t>{2, -32768, 32767}));
  auto edge = parse(one_input("FP32", "[1]", "[3.4028235e38]"));
  ASSERT_TRUE(edge.is_ok()) << edge.status().to_string();
  EXPECT_EQ(values_of<float>(edge->inputs[0])[0], std::numeric_limits<float>::max());
}

TEST(OipCodecTest, ParsesBoolAndBytes) {
  auto b = parse(one_input("BOOL", "[4]", "[true,false,1,0]"));
  ASSERT_TRUE(b.is_ok()) << b.status().to_string();
  EXPECT_EQ(values_of<uint8_t>(b->inputs[0]), (std::vector<uint8_t>{1, 0, 1, 0}));
  expect_invalid(parse(one_input("BOOL", "[1]", "[2]")), "expected true, false, 0 or 1 for BOOL, got 2");

  auto s = parse(one_input("BYTES", "[2,2]", R"([["hi",""],["\u00e9\n","a\"b"]])"));
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  const std::vector<std::string> want = {"hi", "", "\xC3\xA9\n", "a\"b"};
  EXPECT_EQ(bytes_text(s->inputs[0]), bytes_text(Tensor("x", DataType::kBytes, {4}, encode_bytes_elements(want))));
  EXPECT_TRUE(s->inputs[0].validate().is_ok());
  expect_invalid(parse(one_input("BYTES", "[1]", "[5]")), "expected a string for BYTES, got a number");
}

TEST(OipCodecTest, RejectsMalformedStructureWithClearMessages) {
  expect_invalid(parse(""), "empty");
  expect_invalid(parse("[1,2]"), "must be a JSON object");
  expect_invalid(parse("{\"inputs\":[}"), "not valid JSON");
  expect_invalid(parse(R"({"inputs":[{"name":"x"}], "junk": [1,,2]})"), "not valid JSON");
  expect_invalid(parse("{}"), "no 'inputs'");
  expect_invalid(parse(R"({"inputs":{}})"), "'inputs' must be an array");
  expect_invalid(parse(R"({"inputs":[]})"), "'inputs' must not be empty");
  expect_invalid(parse(R"({"inputs":[3]})"), "input 0: must be an object");
  expect_invalid(parse(R"({"inputs":[{"datatype":"FP32","shape":[1],"data":[1]}]})"), "input 0: has no 'name'");
  expect_invalid(parse(one_input("FP8", "[1]", "[1]")), "input 'x': unknown datatype 'FP8'; expected one of BOOL");
  expect_invalid(parse(one_input("FP32", "[2,-1]", "[1]")), "shape dimension 1 is -1");
  expect_invalid(parse(one_input("FP32", "[1.5]", "[1]")), "shape dimension 0 must be an integer, got 1.5");
  expect_invalid(parse(one_input("FP32", "\"3\"", "[1]")), "'shape' must be an array");
  expect_invalid(parse(one_input("FP32", "[4294967296,4294967296]", "[1]")), "more than the limit");
  expect_invalid(parse(one_input("FP32", "[2,2]", "[1,2,3]")), "'data' has 3 elements but shape [2, 2] needs 4");
  expect_invalid(parse(one_input("FP32", "[1]", "5")), "'data' must be an array, got a number");
  expect_invalid(parse(R"({"id":5,"inputs":[]})"), "'id' must be a string");
  expect_invalid(parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1]}]})"), "input 'x': has no 'data'");
  expect_invalid(parse(R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]},
                                     {"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})"),
                 "input 'x': appears more than once");
  expect_invalid(parse(R"({"outputs":[{"name":"y","parameters":{"binary_data":1}}],"inputs":[]})"),
                 "'binary_data' must be a boolean");
}

// ---- Binary tensor extension ----

std::string binary_body(const std::string& json, const std::string& raw) { return json + raw; }

TEST(OipCodecTest, BinaryInputsAreZeroCopyViewsIntoTheBody) {
  const std::vector<float> a = {1.5f, -2.0f, 3.25f};
  const std::vector<std::string> words = {"ab", "c"};
  const auto word_bytes = encode_bytes_elements(words);
  std::string raw(reinterpret_cast<const char*>(a.data()), a.size() * sizeof(float));
  raw.append(reinterpret_cast<const char*>(word_bytes.data()), word_bytes.size());
  const std::string json = R"({"inputs":[
    {"name":"a","datatype":"FP32","shape":[3],"parameters":{"binary_data_size":12}},
    {"name":"j","datatype":"INT64","shape":[1],"data":[42]},
    {"name":"w","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":11}}]})";
  auto body = body_of(binary_body(json, raw));
  auto r = parse_infer_request(body, json.size());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->inputs.size(), 3u);

  const auto* begin = reinterpret_cast<const std::byte*>(body->data());
  const Tensor& ta = r->inputs[0];
  EXPECT_EQ(ta.bytes().data(), begin + json.size());  // no copy: points into the body
  EXPECT_EQ(values_of<float>(ta), a);
  EXPECT_EQ(values_of<int64_t>(r->inputs[1]), std::vector<int64_t>{42});
  const Tensor& tw = r->inputs[2];
  EXPECT_EQ(tw.bytes().data(), begin + json.size() + 12);
  auto elems = bytes_elements(tw);
  ASSERT_TRUE(elems.is_ok());
  EXPECT_EQ(*elems, (std::vector<std::string_view>{"ab", "c"}));

  // The view keeps the body alive after the caller drops it.
  const Tensor kept = ta;
  body.reset();
  r = Status(StatusCode::kInternal, "dropped");
  EXPECT_EQ(values_of<float>(kept), a);
}

TEST(OipCodecTest, RejectsInconsistentBinarySections) {
  const std::string json = R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]})";
  const std::string raw(8, '\0');
  auto parse_bin = [](const std::string& b, std::optional<size_t> len) { return parse_infer_request(body_of(b), len); };

  expect_invalid(parse_bin(json + raw, json.size() + 100), "Inference-Header-Content-Length is");
  expect_invalid(parse_bin(json + raw, std::nullopt), "not valid JSON");  // bytes after the JSON
  expect_invalid(parse_bin(json, std::nullopt), "no Inference-Header-Content-Length header");
  expect_invalid(parse_bin(json + raw + "xx", json.size()), "add up to 8 bytes but 10 bytes follow");
  expect_invalid(parse_bin(json + "xx", json.size()), "add up to more than the 2 bytes");
  expect_invalid(parse_bin(json + raw, json.size() - 1), "not valid JSON");
  expect_invalid(parse_bin(one_input("FP32", "[1]", "[1]") + "zz", one_input("FP32", "[1]", "[1]").size()),
                 "2 bytes after the JSON header but no input has a binary_data_size");

  const std::string wrong_size =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[3],"parameters":{"binary_data_size":8}}]})";
  expect_invalid(parse_bin(wrong_size + raw, wrong_size.size()), "binary input 'a': tensor 'a' has 8 bytes but shape [3]");
  const std::string both =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"data":[1,2],"parameters":{"binary_data_size":8}}]})";
  expect_invalid(parse_bin(both + raw, both.size()), "has both 'data' and the binary_data_size parameter");
  const std::string negative =
      R"({"inputs":[{"name":"a","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":-8}}]})";
  expect_invalid(parse_bin(negative + raw, negative.size()), "'binary_data_size' must be a non-negative integer");
  // 2^61 FP64 elements would wrap a 64-bit byte count to 0.
  const std::string wrap =
      R"({"inputs":[{"name":"a","datatype":"FP64","shape":[2305843009213693952],"parameters":{"binary_data_size":0}}]})";
  expect_invalid(parse_bin(wrap, wrap.size()), "more than the limit");
}

TEST(OipCodecTest, EncodesJsonAndBinaryOutputs) {
  std::vector<Tensor> outputs = {make<float>("probs", DataType::kFp32, {0.25f, 0.75f}),
                                 make<int64_t>("label", DataType::kInt64, {1})};
  auto plain = encode_infer_response("resnet", "3", "req-1", outputs, {}, false);
  EXPECT_FALSE(plain.json_length.has_value());
  EXPECT_EQ(plain.body,
            R"({"model_name":"resnet","model_version":"3","id":"req-1","outputs":[)"
            R"({"name":"probs","datatype":"FP32","shape":[2],"data":[0.25,0.75]},)"
            R"({"name":"label","datatype":"INT64","shape":[1],"data":[1]}]})");

  auto no_id = encode_infer_response("m", "1", "", {}, {}, false);
  EXPECT_EQ(no_id.body, R"({"model_name":"m","model_version":"1","outputs":[]})");

  auto bin = encode_infer_response("resnet", "3", "", outputs, {{"probs", true}}, false);
  ASSERT_TRUE(bin.json_length.has_value());
  const std::string json = bin.body.substr(0, *bin.json_length);
  EXPECT_EQ(json, R"({"model_name":"resnet","model_version":"3","outputs":[)"
                  R"({"name":"probs","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}},)"
                  R"({"name":"label","datatype":"INT64","shape":[1],"data":[1]}]})");
  EXPECT_EQ(bin.body.substr(*bin.json_length), bytes_text(outputs[0]));

  auto all = encode_infer_response("m", "1", "", outputs, {}, true);
  ASSERT_TRUE(all.json_length.has_value());
  EXPECT_EQ(all.body.size(), *all.json_length + 8 + 8);
  auto back = parse_infer_response(body_of(all.body), all.json_length);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->model_name, "m");
  ASSERT_EQ(back->outputs.size(), 2u);
  EXPECT_EQ(bytes_text(back->outputs[0]), bytes_text(outputs[0]));
  EXPECT_EQ(bytes_text(back->outputs[1]), bytes_text(outputs[1]));
}

TEST(OipCodecTest, WritesNonFiniteFloatsAsNullAndReadsNullAsNan) {
  auto enc = encode_infer_response("m", "1", "", {make<double>("y", DataType::kFp64, {NAN, INFINITY, -0.0, 1e300})},
                                   {}, false);
  EXPECT_NE(enc.body.find(R"("data":[null,null,-0.0,1e+300])"), std::string::npos) << enc.body;
  auto back = parse_infer_response(body_of(enc.body), std::nullopt);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  const auto v = values_of<double>(back->outputs[0]);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_TRUE(v[2] == 0.0 && std::signbit(v[2]));
  EXPECT_EQ(v[3], 1e300);
  expect_invalid(parse(one_input("INT32", "[1]", "[null]")), "expected a number for INT32, got null");
}

TEST(OipCodecTest, EscapesStringsAndReplacesInvalidUtf8InBytesOutputs) {
  const std::vector<std::string> words = {"quote\" back\\ nl\n ctl\x01", "caf\xC3\xA9", "bad\xFF"};
  Tensor t("w\"", DataType::kBytes, {3}, encode_bytes_elements(words));
  auto enc = encode_infer_response("m", "1", "", {t}, {}, false);
  EXPECT_NE(enc.body.find(R"(["quote\" back\\ nl\n ctl\u0001","caf)" "\xC3\xA9" R"(","bad\ufffd"])"),
            std::string::npos)
      << enc.body;
  auto back = parse_infer_response(body_of(enc.body), std::nullopt);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->outputs[0].name(), "w\"");
  auto elems = bytes_elements(back->outputs[0]);
  ASSERT_TRUE(elems.is_ok());
  EXPECT_EQ((*elems)[0], words[0]);
  EXPECT_EQ((*elems)[1], words[1]);
  EXPECT_EQ((*elems)[2], "bad\xEF\xBF\xBD");
}

// ---- Round trips: encode, parse, same bytes, for every datatype, JSON and binary ----

std::vector<Tensor> one_of_each_datatype() {
  using L8 = std::numeric_limits<int8_t>;
  using L64 = std::numeric_limits<int64_t>;
  std::vector<uint16_t> halves = {0x0000, 0x8000, 0x3C00, 0x7BFF, 0xFBFF, 0x0001, 0x03FF, 0x0400, 0x3555};
  const std::vector<std::string> words = {"", "x", "hello world", "\xE2\x82\xAC"};
  return {
      make<uint8_t>("bool", DataType::kBool, {0, 1, 1}),
      make<uint8_t>("u8", DataType::kUint8, {0, 1, 255}),
      make<uint16_t>("u16", DataType::kUint16, {0, 65535}),
      make<uint32_t>("u32", DataType::kUint32, {0, 4294967295u}),
      make<uint64_t>("u64", DataType::kUint64, {0, std::numeric_limits<uint64_t>::max()}),
      make<int8_t>("i8", DataType::kInt8, {L8::min(), -1, L8::max()}),
      make<int16_t>("i16", DataType::kInt16, {-32768, 0, 32767}),
      make<int32_t>("i32", DataType::kInt32, {std::numeric_limits<int32_t>::min(), 5, std::numeric_limits<int32_t>::max()}),
      make<int64_t>("i64", DataType::kInt64, {L64::min(), -7, L64::max()}),
      make<uint16_t>("f16", DataType::kFp16, halves),
      make<float>("f32", DataType::kFp32, {0.1f, -0.0f, std::numeric_limits<float>::max(),
                                           std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                                           16777217.0f, 1e-7f}),
      make<double>("f64", DataType::kFp64, {0.1, std::numeric_limits<double>::max(),
                                            std::numeric_limits<double>::denorm_min(), 9007199254740993.0, -1e-300}),
      Tensor("bytes", DataType::kBytes, {4}, encode_bytes_elements(words)),
  };
}

TEST(OipCodecTest, EveryDatatypeRoundTripsThroughJsonAndBinary) {
  const auto tensors = one_of_each_datatype();
  for (bool binary : {false, true}) {
    SCOPED_TRACE(binary ? "binary" : "json");
    InferRequestData req;
    req.id = "rt";
    req.inputs = tensors;
    auto enc = encode_infer_request(req, binary);
    EXPECT_EQ(enc.json_length.has_value(), binary);
    auto parsed = parse_infer_request(body_of(enc.body), enc.json_length);
    ASSERT_TRUE(parsed.is_ok()) << parsed.status().to_string() << "\n" << enc.body;
    ASSERT_EQ(parsed->inputs.size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      SCOPED_TRACE(tensors[i].name());
      EXPECT_EQ(parsed->inputs[i].dtype(), tensors[i].dtype());
      EXPECT_EQ(parsed->inputs[i].shape(), tensors[i].shape());
      EXPECT_EQ(bytes_text(parsed->inputs[i]), bytes_text(tensors[i]));
    }
    // And the response direction, from the parsed request's tensors.
    auto resp = encode_infer_response("m", "1", "rt", parsed->inputs, {}, binary);
    auto back = parse_infer_response(body_of(resp.body), resp.json_length);
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(back->id, "rt");
    for (size_t i = 0; i < tensors.size(); ++i) EXPECT_EQ(bytes_text(back->outputs[i]), bytes_text(tensors[i]));
  }
}

TEST(OipCodecTest, RandomFloatBitPatternsRoundTripExactly) {
  std::mt19937 rng(1234);
  std::vector<float> f32;
  std::vector<double> f64;
  std::vector<uint16_t> f16;
  while (f32.size() < 20000) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isfinite(f)) f32.push_back(f);
    const double d = std::bit_cast<double>((uint64_t{rng()} << 32) | rng());
    if (std::isfinite(d)) f64.push_back(d);
    const auto h = static_cast<uint16_t>(rng());
    if ((h & 0x7C00) != 0x7C00) f16.push_back(h);
  }
  std::vector<Tensor> tensors = {make<float>("a", DataType::kFp32, f32), make<double>("b", DataType::kFp64, f64),
                                 make<uint16_t>("c", DataType::kFp16, f16)};
  auto enc = encode_infer_response("m", "1", "", tensors, {}, false);
  auto back = parse_infer_response(body_of(enc.body), std::nullopt);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  for (size_t i = 0; i < tensors.size(); ++i) EXPECT_EQ(bytes_text(back->outputs[i]), bytes_text(tensors[i]));
}

TEST(OipCodecTest, Fp16ConversionRoundsToNearestEven) {
  EXPECT_EQ(fp16_from_double(1.0), 0x3C00);
  EXPECT_EQ(fp16_from_double(-2.0), 0xC000);
  EXPECT_EQ(fp16_from_double(65504.0), 0x7BFF);
  EXPECT_EQ(fp16_from_double(65519.0), 0x7BFF);  // below the midpoint to 65536
  EXPECT_EQ(fp16_from_double(65520.0), 0x7C00);  // the midpoint rounds to even: Inf
  EXPECT_EQ(fp16_from_double(1.0 + std::ldexp(1.0, -11)), 0x3C00);      // tie, down to even
  EXPECT_EQ(fp16_from_double(1.0 + 3 * std::ldexp(1.0, -11)), 0x3C02);  // tie, up to even
  EXPECT_EQ(fp16_from_double(std::ldexp(1.0, -24)), 0x0001);            // smallest subnormal
  EXPECT_EQ(fp16_from_double(std::ldexp(1.0, -25)), 0x0000);            // tie to even zero
  EXPECT_EQ(fp16_from_double(std::ldexp(3.0, -25)), 0x0002);            // tie to even two
  EXPECT_EQ(fp16_from_double(std::ldexp(1023.5, -24)), 0x0400);         // rounds up into normals
  EXPECT_EQ(fp16_from_double(-0.0), 0x8000);
  EXPECT_EQ(fp16_from_double(INFINITY), 0x7C00);
  EXPECT_EQ(fp16_from_double(-1e10), 0xFC00);
  EXPECT_EQ(fp16_from_double(NAN) & 0x7C00, 0x7C00);
  EXPECT_NE(fp16_from_double(NAN) & 0x03FF, 0);
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00) continue;
    ASSERT_EQ(fp16_from_double(fp16_to_float(static_cast<uint16_t>(h))), h) << h;
  }
  EXPECT_EQ(fp16_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(fp16_to_float(0x0001), std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(fp16_to_float(0xFC00)));
}

TEST(OipCodecTest, SelectOutputsFiltersAndReordersOrNamesTheUnknownOne) {
  std::vector<Tensor> outputs = {make<float>("a", DataType::kFp32, {1}), make<float>("b", DataType::kFp32, {2}),
                                 make<float>("c", DataType::kFp32, {3})};
  auto kept = outputs;
  ASSERT_TRUE(select_outputs({}, kept).is_ok());
  EXPECT_EQ(kept.size(), 3u);
  ASSERT_TRUE(select_outputs({{"c", false}, {"a", true}, {"c", false}}, kept).is_ok());
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].name(), "c");
  EXPECT_EQ(kept[1].name(), "a");
  auto bad = outputs;
  Status st = select_outputs({{"a", false}, {"zz", false}}, bad);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "unknown output 'zz'; the model has 'a', 'b', 'c'");
  EXPECT_EQ(bad.size(), 3u);  // untouched on error
}

// ---- Robustness: random, truncated and mutated bodies never crash ----

void expect_ok_or_invalid(const std::string& body, std::optional<size_t> json_length) {
  auto r = parse_infer_request(body_of(body), json_length);
  if (!r.is_ok()) {
    ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
  }
}

TEST(OipCodecFuzzTest, RandomTruncatedAndMutatedBodiesGiveSuccessOrInvalidArgument) {
  InferRequestData req;
  req.id = "fuzz";
  req.parameters["k"] = std::string("v");
  req.inputs = one_of_each_datatype();
  req.outputs = {{"y", true}};
  const auto json_body = encode_infer_request(req, false);
  const auto bin_body = encode_infer_request(req, true);
  const std::string nested = one_input("INT32", "[2,2,1]", "[[[1],[2]],[[3],[4]]]");

  std::mt19937 rng(42);
  int successes = 0;
  for (const std::string* base : {&json_body.body, &bin_body.body, &nested}) {
    // Every truncation point of the body, with and without a header length.
    for (size_t cut = 0; cut <= base->size(); cut += 1 + base->size() / 1500) {
      const std::string part = base->substr(0, cut);
      expect_ok_or_invalid(part, std::nullopt);
      if (base == &bin_body.body) expect_ok_or_invalid(part, std::min(cut, *bin_body.json_length));
    }
    // Random byte mutations, biased towards JSON punctuation.
    const std::string alphabet = "{}[]\",:-.0123456789eEtruefalsn \\\x01\xFF";
    for (int i = 0; i < 2000; ++i) {
      std::string m = *base;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) m[rng() % m.size()] = alphabet[rng() % alphabet.size()];
      auto r = parse_infer_request(body_of(m), base == &bin_body.body ? bin_body.json_length : std::nullopt);
      if (r.is_ok()) {
        ++successes;
      } else {
        ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().to_string();
      }
    }
  }
  // Pure noise and random header lengths.
  for (int i = 0; i < 2000; ++i) {
    std::string noise(rng() % 200, '\0');
    for (auto& c : noise) c = static_cast<char>(rng());
    if (!noise.empty() && i % 2) noise[0] = '{';
    expect_ok_or_invalid(noise, i % 3 ? std::nullopt : std::optional<size_t>(rng() % 300));
  }
  // Mutations that keep the document valid JSON do succeed sometimes (numbers edited).
  EXPECT_GT(successes, 0);
}

}  // namespace
}  // namespace quiver::http
