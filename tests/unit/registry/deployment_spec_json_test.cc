#include "registry/deployment_spec_json.h"

#include <gtest/gtest.h>

#include <map>

namespace quiver::registry {
namespace {

constexpr const char* kFullSpec = R"({
  "versions": [{"version": "3", "instances": 2}, {"version": "canary", "instances": 1}, {"version": 4}],
  "traffic":  [{"version": "3", "weight": 90}, {"version": "canary", "weight": 10}],
  "sticky":   {"header": "X-User-Id"},
  "rules":    [{"match": {"header": "x-beta", "equals": "1"}, "version": "canary"},
               {"match": {"parameter": "tier", "in": ["gold", 2, true]}, "version": 3},
               {"match": {"parameter": "amount", "gte": 1000.5}, "version": "3"},
               {"match": {"header": "x-n", "not_equals": 1000.0}, "version": "3"}],
  "shadow":   [{"version": "4", "percent": 25.5}]
})";

// Resolves "canary" to 5 and numbers to themselves.
Result<int64_t> test_resolver(const std::string& ref) {
  if (ref == "canary") return int64_t{5};
  if (!ref.empty() && std::isdigit(static_cast<unsigned char>(ref[0]))) return int64_t{std::stoll(ref)};
  return not_found("no alias '" + ref + "'");
}

DeploymentSpec parse_ok(const std::string& text) {
  auto spec = parse_deployment_spec(text);
  EXPECT_TRUE(spec.is_ok()) << spec.status().to_string();
  return spec.is_ok() ? *spec : DeploymentSpec{};
}

// The InvalidArgument message for `text`; fails the test when it parses.
std::string parse_error(const std::string& text) {
  auto spec = parse_deployment_spec(text);
  EXPECT_FALSE(spec.is_ok()) << "parsed: " << text;
  if (spec.is_ok()) return "";
  EXPECT_EQ(spec.status().code(), StatusCode::kInvalidArgument) << spec.status().to_string();
  return spec.status().message();
}

TEST(DeploymentSpecJsonTest, ParsesTheFullSpec) {
  DeploymentSpec spec = parse_ok(kFullSpec);
  ASSERT_EQ(spec.versions.size(), 3u);
  EXPECT_EQ(spec.versions[0].version, (VersionRef{"3", 0}));
  EXPECT_EQ(spec.versions[0].instances, 2);
  EXPECT_EQ(spec.versions[2].version.ref, "4");  // an integer ref is kept as its decimal string
  EXPECT_EQ(spec.versions[2].instances, 1);      // default

  ASSERT_EQ(spec.traffic.size(), 2u);
  EXPECT_EQ(spec.traffic[1].version.ref, "canary");
  EXPECT_EQ(spec.traffic[1].weight, 10u);

  ASSERT_TRUE(spec.sticky.has_value());
  EXPECT_EQ(spec.sticky->source, KeySource::kHeader);
  EXPECT_EQ(spec.sticky->key, "x-user-id");  // header names are lower-cased

  ASSERT_EQ(spec.rules.size(), 4u);
  EXPECT_EQ(spec.rules[0].match.op, MatchOp::kEquals);
  EXPECT_EQ(spec.rules[0].match.values, (std::vector<std::string>{"1"}));
  EXPECT_EQ(spec.rules[1].match.source, KeySource::kParameter);
  EXPECT_EQ(spec.rules[1].match.op, MatchOp::kIn);
  EXPECT_EQ(spec.rules[1].match.values, (std::vector<std::string>{"gold", "2", "true"}));
  EXPECT_EQ(spec.rules[1].version.ref, "3");
  EXPECT_EQ(spec.rules[2].match.op, MatchOp::kGte);
  EXPECT_DOUBLE_EQ(spec.rules[2].match.number, 1000.5);
  EXPECT_EQ(spec.rules[3].match.values, (std::vector<std::string>{"1000"}));  // shortest form

  ASSERT_EQ(spec.shadow.size(), 1u);
  EXPECT_EQ(spec.shadow[0].version.ref, "4");
  EXPECT_DOUBLE_EQ(spec.shadow[0].percent, 25.5);
}

TEST(DeploymentSpecJsonTest, MinimalSpecHasDefaults) {
  DeploymentSpec spec = parse_ok(R"({"versions":[{"version":"1"}],"shadow":[{"version":"1"}]})");
  EXPECT_TRUE(spec.traffic.empty());
  EXPECT_FALSE(spec.sticky.has_value());
  EXPECT_TRUE(spec.rules.empty());
  EXPECT_DOUBLE_EQ(spec.shadow[0].percent, 100);
  EXPECT_TRUE(parse_ok(R"({"versions":[{"version":1}],"traffic":[]})").traffic.empty());
}

TEST(DeploymentSpecJsonTest, SerializeThenParseGivesTheSameSpec) {
  DeploymentSpec spec = parse_ok(kFullSpec);
  ASSERT_TRUE(resolve_version_refs(spec, test_resolver).is_ok());
  ASSERT_TRUE(validate_deployment_spec(spec).is_ok()) << validate_deployment_spec(spec).to_string();
  const std::string text = serialize_deployment_spec(spec);
  EXPECT_EQ(parse_ok(text), spec) << text;
  EXPECT_EQ(serialize_deployment_spec(parse_ok(text)), text);  // stable

  // Unresolved specs round-trip too (no resolved_version written).
  DeploymentSpec unresolved = parse_ok(kFullSpec);
  const std::string unresolved_text = serialize_deployment_spec(unresolved);
  EXPECT_EQ(unresolved_text.find("resolved_version"), std::string::npos);
  EXPECT_EQ(parse_ok(unresolved_text), unresolved);
}

TEST(DeploymentSpecJsonTest, SerializedFormIsNormalized) {
  DeploymentSpec spec = parse_ok(R"({"versions":[{"version":"canary"}],
      "rules":[{"match":{"header":"X-Beta","equals":true},"version":"canary"}]})");
  ASSERT_TRUE(resolve_version_refs(spec, test_resolver).is_ok());
  EXPECT_EQ(serialize_deployment_spec(spec),
            R"({"versions":[{"version":"canary","resolved_version":5,"instances":1}],)"
            R"("rules":[{"match":{"header":"x-beta","equals":"true"},"version":"canary","resolved_version":5}]})");

  DeploymentSpec percent = parse_ok(R"({"versions":[{"version":1},{"version":2}],"shadow":[{"version":2}]})");
  EXPECT_NE(serialize_deployment_spec(percent).find(R"("percent":100})"), std::string::npos);
}

TEST(DeploymentSpecJsonTest, ResolvedVersionIsReadBack) {
  DeploymentSpec spec = parse_ok(R"({"versions":[{"version":"canary","resolved_version":5}]})");
  EXPECT_EQ(spec.versions[0].version, (VersionRef{"canary", 5}));
  EXPECT_NE(parse_error(R"({"versions":[{"version":"3","resolved_version":4}]})").find("contradicts"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":"x","resolved_version":0}]})").find("versions[0].resolved_version"),
            std::string::npos);
}

TEST(DeploymentSpecJsonTest, UnknownFieldsAreNamedWithTheirPlace) {
  EXPECT_EQ(parse_error(R"({"versions":[{"version":1}],"traffic":[{"version":1,"weight":1},{"version":1,"wieght":1}]})"),
            "unknown field 'wieght' in traffic[1]");
  EXPECT_EQ(parse_error(R"({"versions":[{"version":1}],"trafic":[]})"), "unknown field 'trafic' in deployment spec");
  EXPECT_EQ(parse_error(R"({"versions":[{"version":1,"replicas":2}]})"), "unknown field 'replicas' in versions[0]");
  EXPECT_EQ(parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"header":"h","equals":"1","regex":"x"},"version":1}]})"),
            "unknown field 'regex' in rules[0].match");
  EXPECT_EQ(parse_error(R"({"versions":[{"version":1}],"sticky":{"cookie":"c"}})"), "unknown field 'cookie' in sticky");
  EXPECT_EQ(parse_error(R"({"versions":[{"version":1}],"shadow":[{"version":1,"percentage":5}]})"),
            "unknown field 'percentage' in shadow[0]");
}

TEST(DeploymentSpecJsonTest, WeightsMustBeNonNegativeIntegersWithAPositiveSum) {
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"traffic":[{"version":1,"weight":-5}]})").find("traffic[0].weight"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"traffic":[{"version":1,"weight":2.5}]})").find("traffic[0].weight"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"traffic":[{"version":1,"weight":"9"}]})").find("traffic[0].weight"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"traffic":[{"version":1}]})").find("missing field 'weight'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1},{"version":2}],"traffic":[{"version":1,"weight":0},{"version":2,"weight":0}]})")
                .find("sum to 0"),
            std::string::npos);
}

TEST(DeploymentSpecJsonTest, VersionsAreRequired) {
  EXPECT_NE(parse_error(R"({"traffic":[]})").find("missing field 'versions'"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[]})").find("at least one"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":{"version":1}})").find("'versions' must be an array"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"instances":2}]})").find("versions[0]: missing field 'version'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1},{"version":"1"}]})").find("versions[1]"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1,"instances":0}]})").find("versions[0].instances"),
            std::string::npos);
  EXPECT_NE(parse_error(R"([1,2])").find("JSON object"), std::string::npos);
}

TEST(DeploymentSpecJsonTest, StickyNeedsExactlyOneKey) {
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"sticky":{"header":"a","parameter":"b"}})").find("sticky"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"sticky":{}})").find("exactly one of 'header' or 'parameter'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"sticky":{"header":""}})").find("sticky.header"),
            std::string::npos);
  DeploymentSpec by_param = parse_ok(R"({"versions":[{"version":1}],"sticky":{"parameter":"User"}})");
  EXPECT_EQ(by_param.sticky, (StickyConfig{KeySource::kParameter, "User"}));  // parameters keep their case
}

TEST(DeploymentSpecJsonTest, RulesNeedExactlyOneComparison) {
  const std::string two_ops =
      parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"header":"h","equals":"1","gt":3},"version":1}]})");
  EXPECT_NE(two_ops.find("rules[0].match"), std::string::npos) << two_ops;
  EXPECT_NE(two_ops.find("'equals' and 'gt'"), std::string::npos) << two_ops;
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"header":"h"},"version":1}]})").find("found none"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"header":"h","gt":"3"},"version":1}]})")
                .find("rules[0].match.gt must be a number"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"header":"h","in":[]},"version":1}]})")
                .find("rules[0].match.in"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"header":"h","in":["a",{}]},"version":1}]})")
                .find("rules[0].match.in[1]"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"rules":[{"match":{"equals":"1"},"version":1}]})")
                .find("rules[0].match: give exactly one of 'header' or 'parameter'"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"rules":[{"version":1}]})").find("rules[0]: missing field 'match'"),
            std::string::npos);
}

TEST(DeploymentSpecJsonTest, ShadowPercentMustBeFrom0To100) {
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"shadow":[{"version":1,"percent":150}]})").find("shadow[0].percent"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"shadow":[{"version":1,"percent":-1}]})").find("shadow[0].percent"),
            std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"shadow":[{"version":1,"percent":"5"}]})").find("shadow[0].percent"),
            std::string::npos);
}

TEST(DeploymentSpecJsonTest, VersionRefsMustBeStringsOrPositiveIntegers) {
  EXPECT_NE(parse_error(R"({"versions":[{"version":true}]})").find("versions[0].version"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":2.5}]})").find("versions[0].version"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":0}]})").find("versions[0].version"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":-3}]})").find("versions[0].version"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":""}]})").find("versions[0].version"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":"no spaces"}]})").find("versions[0].version"), std::string::npos);
  EXPECT_NE(parse_error(R"({"versions":[{"version":1}],"traffic":[{"version":[1],"weight":1}]})").find("traffic[0].version"),
            std::string::npos);
}

TEST(DeploymentSpecJsonTest, MalformedJsonAndDuplicateKeys) {
  const std::string malformed = parse_error(R"({"versions": [)");
  EXPECT_NE(malformed.find("not valid JSON"), std::string::npos) << malformed;
  EXPECT_NE(malformed.find("line 1"), std::string::npos) << malformed;
  EXPECT_EQ(malformed.find("json.exception"), std::string::npos) << malformed;
  EXPECT_NE(parse_error(R"({"versions":[{"version":1,"version":2}]})").find("'version' is given twice"),
            std::string::npos);
}

// Found by fuzz_spec_json: a deeply nested section (kept as JSON text, like
// "objective") overflowed the stack when it was written back out.
TEST(DeploymentSpecJsonTest, DeeplyNestedJsonIsRefusedNotACrash) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string message = parse_error(R"({"versions":[{"version":"1"}],"objective":{"a":)" + deep + "}}");
  EXPECT_NE(message.find("nests deeper than 64 levels"), std::string::npos) << message;
  EXPECT_NE(parse_error(R"({"versions":[{"version":"1"}],"rules":)" + deep + "}").find("nests deeper"),
            std::string::npos);
  // Real specs are a few levels deep; 60 levels inside "objective" still parse.
  const std::string nested = std::string(60, '[') + std::string(60, ']');
  EXPECT_EQ(parse_ok(R"({"versions":[{"version":"1"}],"objective":{"a":)" + nested + "}}").objective_json,
            R"({"a":)" + nested + "}");
}

TEST(DeploymentSpecJsonTest, ValidateNeedsListedAndResolvedVersions) {
  DeploymentSpec spec = parse_ok(R"({"versions":[{"version":"3"}],"traffic":[{"version":"canary","weight":1}]})");
  EXPECT_NE(validate_deployment_spec(spec).message().find("not resolved"), std::string::npos);
  ASSERT_TRUE(resolve_version_refs(spec, test_resolver).is_ok());
  Status st = validate_deployment_spec(spec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "traffic names version 'canary' (5), which is not in versions");

  DeploymentSpec rule = parse_ok(R"({"versions":[{"version":"3"}],"rules":[{"match":{"header":"h","equals":"1"},"version":7}]})");
  ASSERT_TRUE(resolve_version_refs(rule, test_resolver).is_ok());
  EXPECT_EQ(validate_deployment_spec(rule).message(), "rules[0] names version '7', which is not in versions");

  DeploymentSpec shadow = parse_ok(R"({"versions":[{"version":"3"}],"shadow":[{"version":"canary"}]})");
  ASSERT_TRUE(resolve_version_refs(shadow, test_resolver).is_ok());
  EXPECT_EQ(validate_deployment_spec(shadow).message(), "shadow names version 'canary' (5), which is not in versions");
}

TEST(DeploymentSpecJsonTest, ValidateRejectsTheSameVersionListedTwice) {
  // Distinct refs that resolve to the same number.
  DeploymentSpec spec = parse_ok(R"({"versions":[{"version":"5"},{"version":"canary"}]})");
  ASSERT_TRUE(resolve_version_refs(spec, test_resolver).is_ok());
  Status st = validate_deployment_spec(spec);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("version 5 twice"), std::string::npos) << st.message();
}

TEST(DeploymentSpecJsonTest, ShadowTargetMustNotBeTheOnlyLiveVersion) {
  DeploymentSpec only = parse_ok(R"({"versions":[{"version":"3"}],"shadow":[{"version":"3"}]})");
  ASSERT_TRUE(resolve_version_refs(only, test_resolver).is_ok());
  EXPECT_NE(validate_deployment_spec(only).message().find("only version serving live traffic"), std::string::npos);

  DeploymentSpec all_weight = parse_ok(R"({"versions":[{"version":"3"},{"version":"4"}],
      "traffic":[{"version":"3","weight":0},{"version":"4","weight":1}],"shadow":[{"version":"4"}]})");
  ASSERT_TRUE(resolve_version_refs(all_weight, test_resolver).is_ok());
  EXPECT_EQ(validate_deployment_spec(all_weight).code(), StatusCode::kInvalidArgument);

  // Shadowed and live at the same time is fine when another version serves too.
  DeploymentSpec both = parse_ok(R"({"versions":[{"version":"3"},{"version":"4"}],
      "traffic":[{"version":"3","weight":50},{"version":"4","weight":50}],"shadow":[{"version":"4"}]})");
  ASSERT_TRUE(resolve_version_refs(both, test_resolver).is_ok());
  EXPECT_TRUE(validate_deployment_spec(both).is_ok()) << validate_deployment_spec(both).to_string();

  // The usual case: the default version serves, a second one only mirrors.
  DeploymentSpec mirror = parse_ok(R"({"versions":[{"version":"3"},{"version":"4"}],"shadow":[{"version":"4"}]})");
  ASSERT_TRUE(resolve_version_refs(mirror, test_resolver).is_ok());
  EXPECT_TRUE(validate_deployment_spec(mirror).is_ok());
}

TEST(DeploymentSpecJsonTest, ResolveErrorsNameTheField) {
  DeploymentSpec spec = parse_ok(R"({"versions":[{"version":"3"}],"shadow":[{"version":"ghost"}]})");
  Status st = resolve_version_refs(spec, test_resolver);
  EXPECT_EQ(st.code(), StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "shadow[0].version: no alias 'ghost'");
  EXPECT_EQ(spec.versions[0].version.version, 3);  // resolved before the failure
}

}  // namespace
}  // namespace quiver::registry
