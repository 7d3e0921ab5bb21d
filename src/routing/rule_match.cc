#include "routing/rule_match.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>

namespace quiver::routing {
namespace {

// The value as text, in the same canonical form the spec parser stores rule values in
// (integers without a fraction, shortest round-trip doubles, true/false).
std::string as_text(const ParamValue& v) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) {
          return x ? "true" : "false";
        } else if constexpr (std::is_same_v<T, int64_t>) {
          return std::to_string(x);
        } else if constexpr (std::is_same_v<T, double>) {
          if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9e15)
            return std::to_string(static_cast<int64_t>(x));
          char buf[64];
          auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x);
          return ec == std::errc() ? std::string(buf, end) : std::string();
        } else {
          return x;
        }
      },
      v);
}

std::optional<double> as_number(const ParamValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* s = std::get_if<std::string>(&v)) {
    double out = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size()) return out;
  }
  return std::nullopt;
}

std::optional<ParamValue> lookup(KeySource source, const std::string& key, const Headers& headers,
                                 const Params& params) {
  if (source == KeySource::kHeader) {
    auto it = headers.find(key);
    if (it == headers.end()) return std::nullopt;
    return ParamValue{it->second};
  }
  auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  return it->second;
}

}  // namespace

bool rule_matches(const RuleMatch& match, const Headers& headers, const Params& params) {
  auto value = lookup(match.source, match.key, headers, params);
  if (!value) return false;
  switch (match.op) {
    case MatchOp::kEquals:
    case MatchOp::kNotEquals: {
      const std::string text = as_text(*value);
      bool eq = !match.values.empty() && text == match.values.front();
      // "1000" equals 1000.0: compare numerically when both sides are numbers.
      if (!eq && !match.values.empty()) {
        auto n = as_number(*value);
        auto m = as_number(ParamValue{match.values.front()});
        eq = n && m && *n == *m;
      }
      return match.op == MatchOp::kEquals ? eq : !eq;
    }
    case MatchOp::kIn: {
      // Same comparison as equals: text, or numbers when both sides are numeric.
      const std::string text = as_text(*value);
      const auto n = as_number(*value);
      for (const auto& v : match.values) {
        if (v == text) return true;
        if (n) {
          const auto m = as_number(ParamValue{v});
          if (m && *m == *n) return true;
        }
      }
      return false;
    }
    case MatchOp::kGt:
    case MatchOp::kGte:
    case MatchOp::kLt:
    case MatchOp::kLte: {
      auto n = as_number(*value);
      if (!n) return false;
      switch (match.op) {
        case MatchOp::kGt: return *n > match.number;
        case MatchOp::kGte: return *n >= match.number;
        case MatchOp::kLt: return *n < match.number;
        default: return *n <= match.number;
      }
    }
  }
  return false;
}

std::string sticky_key(const StickyConfig& sticky, const Headers& headers, const Params& params) {
  auto value = lookup(sticky.source, sticky.key, headers, params);
  return value ? as_text(*value) : std::string();
}

}  // namespace quiver::routing
