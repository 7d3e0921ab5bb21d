#include "routing/rule_match.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quiver::routing {
namespace {

RuleMatch header_rule(std::string key, MatchOp op, std::vector<std::string> values) {
  RuleMatch m;
  m.source = KeySource::kHeader;
  m.key = std::move(key);
  m.op = op;
  m.values = std::move(values);
  return m;
}

RuleMatch param_rule(std::string key, MatchOp op, std::vector<std::string> values, double number = 0) {
  RuleMatch m;
  m.source = KeySource::kParameter;
  m.key = std::move(key);
  m.op = op;
  m.values = std::move(values);
  m.number = number;
  return m;
}

TEST(RuleMatches, HeaderEquals) {
  const RuleMatch m = header_rule("x-beta", MatchOp::kEquals, {"1"});
  EXPECT_TRUE(rule_matches(m, {{"x-beta", "1"}}, {}));
  EXPECT_FALSE(rule_matches(m, {{"x-beta", "0"}}, {}));
  EXPECT_FALSE(rule_matches(m, {{"x-beta", "11"}}, {}));
}

TEST(RuleMatches, HeaderRuleIgnoresParameterOfTheSameName) {
  const RuleMatch m = header_rule("x-beta", MatchOp::kEquals, {"1"});
  EXPECT_FALSE(rule_matches(m, {}, {{"x-beta", std::string("1")}}));
}

TEST(RuleMatches, ParameterEqualsComparesCanonicalText) {
  EXPECT_TRUE(rule_matches(param_rule("flag", MatchOp::kEquals, {"true"}), {}, {{"flag", true}}));
  EXPECT_FALSE(rule_matches(param_rule("flag", MatchOp::kEquals, {"true"}), {}, {{"flag", false}}));
  EXPECT_TRUE(rule_matches(param_rule("n", MatchOp::kEquals, {"1000"}), {}, {{"n", int64_t{1000}}}));
  // 1000.0 is the number 1000.
  EXPECT_TRUE(rule_matches(param_rule("n", MatchOp::kEquals, {"1000"}), {}, {{"n", 1000.0}}));
  EXPECT_TRUE(rule_matches(param_rule("n", MatchOp::kEquals, {"0.5"}), {}, {{"n", 0.5}}));
}

TEST(RuleMatches, EqualsComparesNumbersNumerically) {
  EXPECT_TRUE(rule_matches(param_rule("n", MatchOp::kEquals, {"1e3"}), {}, {{"n", int64_t{1000}}}));
  EXPECT_TRUE(rule_matches(header_rule("x-n", MatchOp::kEquals, {"1000"}), {{"x-n", "1000.0"}}, {}));
}

TEST(RuleMatches, ParameterInSet) {
  const RuleMatch m = param_rule("region", MatchOp::kIn, {"eu", "us", "ap"});
  EXPECT_TRUE(rule_matches(m, {}, {{"region", std::string("us")}}));
  EXPECT_TRUE(rule_matches(m, {}, {{"region", std::string("ap")}}));
  EXPECT_FALSE(rule_matches(m, {}, {{"region", std::string("sa")}}));
  EXPECT_FALSE(rule_matches(m, {}, {{"region", std::string("EU")}}));
  const RuleMatch ints = param_rule("tier", MatchOp::kIn, {"1", "2"});
  EXPECT_TRUE(rule_matches(ints, {}, {{"tier", int64_t{2}}}));
  EXPECT_FALSE(rule_matches(ints, {}, {{"tier", int64_t{3}}}));
}

TEST(RuleMatches, NumericComparisons) {
  const Params p50 = {{"amount", int64_t{50}}};
  const Params p49 = {{"amount", 49.5}};
  EXPECT_TRUE(rule_matches(param_rule("amount", MatchOp::kGt, {}, 49), {}, p50));
  EXPECT_FALSE(rule_matches(param_rule("amount", MatchOp::kGt, {}, 50), {}, p50));
  EXPECT_TRUE(rule_matches(param_rule("amount", MatchOp::kGte, {}, 50), {}, p50));
  EXPECT_FALSE(rule_matches(param_rule("amount", MatchOp::kGte, {}, 50), {}, p49));
  EXPECT_TRUE(rule_matches(param_rule("amount", MatchOp::kLt, {}, 50), {}, p49));
  EXPECT_FALSE(rule_matches(param_rule("amount", MatchOp::kLt, {}, 50), {}, p50));
  EXPECT_TRUE(rule_matches(param_rule("amount", MatchOp::kLte, {}, 50), {}, p50));
  EXPECT_FALSE(rule_matches(param_rule("amount", MatchOp::kLte, {}, 49), {}, p49));
}

TEST(RuleMatches, NumericComparisonParsesNumericStringsAndRejectsOthers) {
  RuleMatch gt = header_rule("x-score", MatchOp::kGt, {});
  gt.number = 0.75;
  EXPECT_TRUE(rule_matches(gt, {{"x-score", "0.8"}}, {}));
  EXPECT_FALSE(rule_matches(gt, {{"x-score", "0.7"}}, {}));
  EXPECT_FALSE(rule_matches(gt, {{"x-score", "high"}}, {}));
  EXPECT_FALSE(rule_matches(gt, {{"x-score", "0.8abc"}}, {}));
  EXPECT_FALSE(rule_matches(param_rule("b", MatchOp::kGt, {}, -1), {}, {{"b", true}}));
}

TEST(RuleMatches, NotEquals) {
  const RuleMatch m = header_rule("x-tenant", MatchOp::kNotEquals, {"acme"});
  EXPECT_TRUE(rule_matches(m, {{"x-tenant", "globex"}}, {}));
  EXPECT_FALSE(rule_matches(m, {{"x-tenant", "acme"}}, {}));
}

TEST(RuleMatches, MissingKeyNeverMatchesAnyOperator) {
  const Headers other_headers = {{"x-other", "1"}};
  const Params other_params = {{"other", int64_t{1}}};
  for (MatchOp op : {MatchOp::kEquals, MatchOp::kNotEquals, MatchOp::kIn, MatchOp::kGt, MatchOp::kGte,
                     MatchOp::kLt, MatchOp::kLte}) {
    EXPECT_FALSE(rule_matches(header_rule("x-beta", op, {"1"}), other_headers, other_params))
        << "header op " << static_cast<int>(op);
    EXPECT_FALSE(rule_matches(param_rule("beta", op, {"1"}, 0), other_headers, other_params))
        << "param op " << static_cast<int>(op);
  }
}

TEST(StickyKey, ReadsHeaderOrParameterAsText) {
  StickyConfig header{KeySource::kHeader, "x-user-id"};
  EXPECT_EQ(sticky_key(header, {{"x-user-id", "u-17"}}, {}), "u-17");
  EXPECT_EQ(sticky_key(header, {}, {{"x-user-id", std::string("param")}}), "");
  StickyConfig param{KeySource::kParameter, "user"};
  EXPECT_EQ(sticky_key(param, {}, {{"user", int64_t{17}}}), "17");
  EXPECT_EQ(sticky_key(param, {}, {{"user", std::string("bob")}}), "bob");
  EXPECT_EQ(sticky_key(param, {}, {}), "");
}

}  // namespace
}  // namespace quiver::routing
