#include "cli/spec_yaml.h"

#include <gtest/gtest.h>

namespace quiver::cli {
namespace {

using nlohmann::json;

json must_convert(std::string_view text) {
  auto converted = yaml_to_json(text, "spec.yaml");
  EXPECT_TRUE(converted.is_ok()) << converted.status().to_string();
  return converted.is_ok() ? *converted : json();
}

TEST(YamlToJsonTest, TypesPlainScalarsAndKeepsQuotedOnesText) {
  const json doc = must_convert(R"(
count: 3
negative: -7
ratio: 0.25
exp: 1e3
hex: 0x1F
on: true
off: False
nothing: ~
empty:
word: canary
quoted_number: "42"
single_quoted_bool: 'true'
explicit_text: !!str 12
)");
  EXPECT_EQ(doc["count"], json(3));
  EXPECT_TRUE(doc["count"].is_number_integer());
  EXPECT_EQ(doc["negative"], json(-7));
  EXPECT_DOUBLE_EQ(doc["ratio"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(doc["exp"].get<double>(), 1000.0);
  EXPECT_EQ(doc["hex"], json(31));
  EXPECT_EQ(doc["on"], json(true));
  EXPECT_EQ(doc["off"], json(false));
  EXPECT_TRUE(doc["nothing"].is_null());
  EXPECT_TRUE(doc["empty"].is_null());
  EXPECT_EQ(doc["word"], json("canary"));
  EXPECT_EQ(doc["quoted_number"], json("42"));
  EXPECT_EQ(doc["single_quoted_bool"], json("true"));
  EXPECT_EQ(doc["explicit_text"], json("12"));
}

// The edges of YAML 1.2's core-schema number forms: what is a number, and what stays text.
TEST(YamlToJsonTest, TypesEveryCoreSchemaNumberFormAndNothingElse) {
  const json doc = must_convert(R"(
plus: +5
leading_dot: .5
trailing_dot: 5.
negative_fraction: -.5
small: 1.5e-3
big_exponent: 2E+2
octal: 0o17
hex_upper: 0xFF
huge: 123456789012345678901234567890
unsigned: 18446744073709551615
bare_e: 1e
minus_word: -x
plus_only: +
dot_only: .
exponent_sign_only: 1e+
dot_exponent: .e5
empty_hex: 0x
bad_octal: 0o8
bad_hex: 0xG
two_dots: 1.2.3
underscores: 1_000
infinity: .inf
)");
  EXPECT_EQ(doc["plus"], json(5));
  EXPECT_DOUBLE_EQ(doc["leading_dot"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(doc["trailing_dot"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(doc["negative_fraction"].get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(doc["small"].get<double>(), 0.0015);
  EXPECT_DOUBLE_EQ(doc["big_exponent"].get<double>(), 200.0);
  EXPECT_EQ(doc["octal"], json(15));
  EXPECT_EQ(doc["hex_upper"], json(255));
  EXPECT_TRUE(doc["huge"].is_number_float());
  EXPECT_EQ(doc["unsigned"], json(18446744073709551615ULL));
  for (const char* text : {"bare_e", "minus_word", "plus_only", "dot_only", "exponent_sign_only", "dot_exponent",
                           "empty_hex", "bad_octal", "bad_hex", "two_dots", "underscores", "infinity"}) {
    EXPECT_TRUE(doc[text].is_string()) << text << " became " << doc[text].dump();
  }
}

TEST(YamlToJsonTest, ConvertsNestedMappingsAndLists) {
  const json doc = must_convert(R"(
versions:
  - {version: 3, instances: 2}
  - version: canary
    instances: 1
traffic: [{version: 3, weight: 90}, {version: canary, weight: 10}]
sticky: {header: x-user-id}
rules:
  - match: {header: x-beta, equals: "1"}
    version: canary
)");
  const json expected = json::parse(R"({
    "versions": [{"version": "3", "instances": 2}, {"version": "canary", "instances": 1}],
    "traffic": [{"version": "3", "weight": 90}, {"version": "canary", "weight": 10}],
    "sticky": {"header": "x-user-id"},
    "rules": [{"match": {"header": "x-beta", "equals": "1"}, "version": "canary"}]
  })");
  EXPECT_EQ(doc, expected);
}

TEST(YamlToJsonTest, VersionValuesStayAsWritten) {
  const json doc = must_convert("version: 3\nother:\n  version: 04\n  count: 04\n");
  EXPECT_EQ(doc["version"], json("3"));
  EXPECT_EQ(doc["other"]["version"], json("04"));
  EXPECT_EQ(doc["other"]["count"], json(4));
}

TEST(YamlToJsonTest, TakesJsonDocumentsAsJsonEvenWithTabs) {
  const json doc = must_convert("{\n\t\"model\": \"m\",\n\t\"traffic\": [{\"version\": 3, \"weight\": 100}]\n}");
  EXPECT_EQ(doc["model"], json("m"));
  EXPECT_EQ(doc["traffic"][0]["version"], json(3)) << "JSON numbers are kept as numbers";
}

TEST(YamlToJsonTest, ReportsWhereTheYamlIsBroken) {
  auto converted = yaml_to_json("versions:\n  - version: 3\n   bad: [\n", "spec.yaml");
  ASSERT_FALSE(converted.is_ok());
  EXPECT_EQ(converted.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(converted.status().message().rfind("spec.yaml:", 0), 0u) << converted.status().message();
}

// Found by fuzz_spec_yaml: such a document used to reach nlohmann's dump() in
// `quiver apply`, which threw and aborted the CLI.
TEST(YamlToJsonTest, RefusesTextThatIsNotUtf8) {
  for (const std::string& text : {std::string("model: iris\nversions: [{version: 1}]\nsticky: {header: caf\xe9}\n"),
                                 std::string("model: iris\n\xb6key: 1\n")}) {
    auto converted = yaml_to_json(text, "spec.yaml");
    ASSERT_FALSE(converted.is_ok()) << text;
    EXPECT_EQ(converted.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(converted.status().message().find("not valid UTF-8"), std::string::npos) << converted.status().message();
  }
  EXPECT_EQ(must_convert("name: \"caf\xc3\xa9 \\u00e9 \\U0001F600\"\n").dump(), "{\"name\":\"caf\xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80\"}");
}

// Found by fuzz_spec_yaml: aliases of aliases expand exponentially when copied into
// JSON (here 10^9 values), which ran the CLI out of memory.
TEST(YamlToJsonTest, RefusesAliasBombs) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) text += (k ? ", *a" : "*a") + std::to_string(i - 1);
    text += "]\n";
  }
  auto converted = yaml_to_json(text, "spec.yaml");
  ASSERT_FALSE(converted.is_ok());
  EXPECT_EQ(converted.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(converted.status().message().find("expands to more than 20000 values"), std::string::npos)
      << converted.status().message();
  // An alias inside its own anchor is a cycle (found by fuzz_spec_yaml: a stack overflow).
  auto cycle = yaml_to_json("model: iris\na0: &a0 [x, *a0]\n", "spec.yaml");
  ASSERT_FALSE(cycle.is_ok());
  EXPECT_NE(cycle.status().message().find("nests deeper than 64 levels"), std::string::npos)
      << cycle.status().message();
  // Ordinary use of anchors still works.
  EXPECT_EQ(must_convert("base: &b {instances: 2}\nversions: [*b, *b]\n")["versions"][1]["instances"], 2);
}

// Found by fuzz_spec_yaml: a very long number-like scalar overflowed the stack in
// std::regex. It is kept as text (the server then says what it expected).
TEST(YamlToJsonTest, VeryLongScalarsStayTextWithoutACrash) {
  const std::string digits(200000, '7');
  EXPECT_EQ(must_convert("n: " + digits + "\n")["n"], digits);
  EXPECT_EQ(must_convert("n: " + std::string(100, '9') + "\n")["n"].type(), json::value_t::number_float);
}

TEST(YamlToJsonTest, RejectsDuplicateKeysAndSeveralDocuments) {
  auto duplicate = yaml_to_json("model: a\nmodel: b\n", "spec.yaml");
  ASSERT_FALSE(duplicate.is_ok());
  EXPECT_NE(duplicate.status().message().find("'model' appears twice"), std::string::npos);

  auto two = yaml_to_json("model: a\n---\nmodel: b\n", "spec.yaml");
  ASSERT_FALSE(two.is_ok());
  EXPECT_NE(two.status().message().find("2 YAML documents"), std::string::npos);

  // Found by fuzz_spec_yaml: on this stream yaml-cpp's LoadAll returned documents
  // without end until memory ran out; it is refused now.
  auto endless = yaml_to_json(R"({"modetical": true}, {"name": "shadow_top1_agreement", true}, {"name": "shadow_top1_agreement", "min": 05.9,} {"name": "accuracy")" "\n"
                              R"(base: &stances: 1})" "\n"
                              R"(versions:failure_lim - *_failure": "rollback", "max_candidateities", 2labels "auto": min"promote_best"}})",
                              "spec.yaml");
  ASSERT_FALSE(endless.is_ok());
  EXPECT_EQ(endless.status().code(), StatusCode::kInvalidArgument);
}

TEST(SplitDeploymentDocumentTest, TakesTheModelKeyOffTheSpec) {
  auto doc = split_deployment_document(json{{"model", "resnet"}, {"versions", json::array()}}, "");
  ASSERT_TRUE(doc.is_ok()) << doc.status().to_string();
  EXPECT_EQ(doc->model, "resnet");
  EXPECT_EQ(doc->spec, (json{{"versions", json::array()}}));
}

TEST(SplitDeploymentDocumentTest, UsesTheModelFlagWhenTheSpecNamesNone) {
  auto doc = split_deployment_document(json{{"versions", json::array()}}, "bert");
  ASSERT_TRUE(doc.is_ok());
  EXPECT_EQ(doc->model, "bert");
  EXPECT_EQ(doc->spec, (json{{"versions", json::array()}}));

  auto same = split_deployment_document(json{{"model", "bert"}}, "bert");
  EXPECT_TRUE(same.is_ok());
}

TEST(SplitDeploymentDocumentTest, RefusesMissingOrConflictingModels) {
  auto none = split_deployment_document(json{{"versions", json::array()}}, "");
  ASSERT_FALSE(none.is_ok());
  EXPECT_NE(none.status().message().find("--model"), std::string::npos);

  auto conflict = split_deployment_document(json{{"model", "a"}}, "b");
  ASSERT_FALSE(conflict.is_ok());
  EXPECT_NE(conflict.status().message().find("'a'"), std::string::npos);

  auto not_a_mapping = split_deployment_document(json::array({1, 2}), "m");
  ASSERT_FALSE(not_a_mapping.is_ok());
  EXPECT_EQ(not_a_mapping.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quiver::cli
