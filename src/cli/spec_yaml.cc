#include "cli/spec_yaml.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace quiver::cli {
namespace {

using nlohmann::json;

// Keys whose scalar values are kept as written (see the header).
bool keeps_text(std::string_view key) { return key == "version"; }

bool is_null_word(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

constexpr size_t kMaxNumberLength = 128;

// The number forms of YAML 1.2's core schema, matched by hand: std::regex recursed once
// per character (a scalar of some 10^5 digits overflowed the stack, found by
// fuzz_spec_yaml) and took about 40% of yaml_to_json's time in a profile of that target.
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Moves `i` past a run of decimal digits; whether there was at least one.
bool skip_digits(std::string_view s, size_t& i) {
  const size_t start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  return i > start;
}

size_t sign_length(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0; }

// [-+]?[0-9]+
bool is_decimal(std::string_view s) {
  size_t i = sign_length(s);
  return skip_digits(s, i) && i == s.size();
}

// 0x[0-9a-fA-F]+ or 0o[0-7]+
bool is_radix(std::string_view s, int base) {
  if (s.size() < 3 || !s.starts_with(base == 16 ? "0x" : "0o")) return false;
  return std::all_of(s.begin() + 2, s.end(), [base](char c) {
    if (base == 8) return c >= '0' && c <= '7';
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  });
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_float(std::string_view s) {
  size_t i = sign_length(s);
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!skip_digits(s, i)) return false;
  } else {
    if (!skip_digits(s, i)) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      skip_digits(s, i);
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    i += sign_length(s.substr(i));
    if (!skip_digits(s, i)) return false;
  }
  return i == s.size();
}

// An unquoted scalar, typed by YAML 1.2's core schema.
json plain_scalar(const std::string& s) {
  if (is_null_word(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  // No number in a spec is this long; it stays text (and strtod never sees 10^5 digits).
  if (s.size() > kMaxNumberLength) return s;
  // Most scalars are words: only these can start a number, and a document of many
  // values stays cheap (found by fuzz_spec_yaml: an alias bomb of 10^5 words).
  const char first = s.front();
  if (!(is_digit(first) || first == '-' || first == '+' || first == '.')) return s;

  const char* begin = s.data();
  const char* end = s.data() + s.size();
  if (is_decimal(s)) {
    const char* digits = begin + (s.front() == '+' ? 1 : 0);
    int64_t value = 0;
    if (std::from_chars(digits, end, value).ec == std::errc()) return value;
    uint64_t big = 0;
    if (std::from_chars(digits, end, big).ec == std::errc()) return big;
    return std::strtod(begin, nullptr);  // too large for 64 bits: keep it a number
  }
  if (is_radix(s, 16) || is_radix(s, 8)) {
    uint64_t value = 0;
    const int base = s[1] == 'x' ? 16 : 8;
    if (std::from_chars(begin + 2, end, value, base).ec == std::errc()) return value;
    return s;
  }
  if (is_float(s)) return std::strtod(begin, nullptr);
  // .inf and .nan have no JSON spelling; they stay text and the server says why.
  return s;
}

// JSON text is UTF-8, and nlohmann's dump() throws on anything else: a spec saved in
// Latin-1 must be refused here, with its place, not abort the CLI when it is sent.
bool is_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = byte(i);
    size_t len = 1;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead < 0x80) {
      ++i;
      continue;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      len = 3;
      if (lead == 0xE0) lo = 0xA0;  // overlong
      if (lead == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      len = 4;
      if (lead == 0xF0) lo = 0x90;  // overlong
      if (lead == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (s.size() - i < len || byte(i + 1) < lo || byte(i + 1) > hi) return false;
    for (size_t k = 2; k < len; ++k)
      if ((byte(i + k) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string where(const YAML::Mark& mark, std::string_view source) {
  if (mark.is_null()) return std::string(source);
  return fmt::format("{}:{}:{}", source, mark.line + 1, mark.column + 1);
}

// A spec has hundreds of values at most. YAML aliases are shared in yaml-cpp's tree
// but copied into JSON, so a few lines of nested aliases ("billion laughs") would
// expand without end (found by fuzz_spec_yaml: 2 GB from 800 bytes).
constexpr size_t kMaxValues = 20000;
// An alias inside its own anchor ("&a [*a]") makes the tree a cycle; depth bounds it.
constexpr int kMaxDepth = 64;

class Converter {
 public:
  explicit Converter(std::string_view source) : source_(source) {}

  Result<json> convert(const YAML::Node& node, bool as_text, int depth = 0) {
    if (++values_ > kMaxValues)
      return invalid_argument(fmt::format("{}: the document expands to more than {} values (nested aliases?)",
                                          where(node.Mark(), source_), kMaxValues));
    if (depth > kMaxDepth)
      return invalid_argument(fmt::format("{}: the document nests deeper than {} levels (a recursive alias?)",
                                          where(node.Mark(), source_), kMaxDepth));
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        if (!is_utf8(node.Scalar()))
          return invalid_argument(fmt::format("{}: the text is not valid UTF-8", where(node.Mark(), source_)));
        return scalar(node, as_text);
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const auto& item : node) {
          QUIVER_ASSIGN_OR_RETURN(json value, convert(item, false, depth + 1));
          out.push_back(std::move(value));
        }
        return out;
      }
      case YAML::NodeType::Map:
        return mapping(node, depth);
    }
    return internal_error("unknown YAML node type");
  }

 private:
  json scalar(const YAML::Node& node, bool as_text) const {
    const std::string& text = node.Scalar();
    const std::string& tag = node.Tag();
    // "!" marks a quoted scalar, "tag:yaml.org,2002:str" an explicit !!str.
    if (as_text || tag == "!" || tag == "tag:yaml.org,2002:str") return text;
    return plain_scalar(text);
  }

  Result<json> mapping(const YAML::Node& node, int depth) {
    json out = json::object();
    for (const auto& entry : node) {
      if (!entry.first.IsScalar()) {
        return invalid_argument(fmt::format("{}: mapping keys must be plain text",
                                            where(entry.first.Mark(), source_)));
      }
      const std::string key = entry.first.Scalar();
      if (!is_utf8(key))
        return invalid_argument(fmt::format("{}: the key is not valid UTF-8", where(entry.first.Mark(), source_)));
      if (out.contains(key)) {
        return invalid_argument(
            fmt::format("{}: key '{}' appears twice", where(entry.first.Mark(), source_), key));
      }
      QUIVER_ASSIGN_OR_RETURN(json value, convert(entry.second, keeps_text(key), depth + 1));
      out[key] = std::move(value);
    }
    return out;
  }

  std::string_view source_;
  size_t values_ = 0;
};

// Counts the documents of a stream without building them.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// yaml-cpp 0.7's LoadAll never ends on some malformed streams (found by fuzz_spec_yaml:
// 253 bytes gave documents until memory ran out), so documents are counted up to this.
constexpr int kMaxDocuments = 16;

bool looks_like_json(std::string_view text) {
  const size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && (text[first] == '{' || text[first] == '[');
}

}  // namespace

Result<nlohmann::json> yaml_to_json(std::string_view text, std::string_view source_name) {
  if (looks_like_json(text)) {
    // Strict JSON first: it keeps numbers exactly and allows tabs, which YAML forbids
    // in indentation. A YAML flow mapping ("{a: 1}") falls through to the YAML parser.
    auto parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) return parsed;
  }
  YAML::Node document;
  int documents = 0;
  try {
    document = YAML::Load(std::string(text));  // the first document
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (documents <= kMaxDocuments && parser.HandleNextDocument(counter)) ++documents;
  } catch (const YAML::Exception& e) {
    return invalid_argument(fmt::format("{}: {}", where(e.mark, source_name), e.msg));
  }
  if (documents == 0 || document.IsNull()) return invalid_argument(fmt::format("{} is empty", source_name));
  if (documents > 1) {
    return invalid_argument(fmt::format("{} holds {}{} YAML documents; give one per file", source_name,
                                        documents > kMaxDocuments ? "more than " : "",
                                        std::min(documents, kMaxDocuments)));
  }
  try {
    return Converter(source_name).convert(document, false);
  } catch (const YAML::Exception& e) {
    return invalid_argument(fmt::format("{}: {}", where(e.mark, source_name), e.msg));
  }
}

Result<DeploymentDocument> split_deployment_document(nlohmann::json document,
                                                     std::string_view model_flag) {
  if (!document.is_object()) {
    return invalid_argument(fmt::format(
        "a deployment spec must be a mapping with keys like model, versions, traffic; got {}",
        document.is_null() ? "an empty document" : std::string("a ") + document.type_name()));
  }
  DeploymentDocument out;
  if (auto it = document.find("model"); it != document.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
      return invalid_argument(fmt::format("'model' must be a model name, not {}", it->dump()));
    }
    out.model = it->get<std::string>();
    document.erase(it);
    if (!model_flag.empty() && model_flag != out.model) {
      return invalid_argument(fmt::format(
          "the spec is for model '{}' but --model says '{}'; remove one of them", out.model,
          model_flag));
    }
  } else if (!model_flag.empty()) {
    out.model = std::string(model_flag);
  } else {
    return invalid_argument("the spec names no model: add 'model: NAME' at its top or pass --model NAME");
  }
  out.spec = std::move(document);
  return out;
}

}  // namespace quiver::cli
