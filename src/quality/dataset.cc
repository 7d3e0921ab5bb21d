#include "quality/dataset.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace quiver::quality {
namespace {

using nlohmann::json;

// Splits text into lines (without "\n" or "\r\n"), counting from 1.
class Lines {
 public:
  explicit Lines(std::string_view text) : text_(text) {
    if (text_.starts_with("\xEF\xBB\xBF")) text_.remove_prefix(3);  // UTF-8 byte order mark
  }
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos_ = end + 1;
    ++number_;
    return true;
  }
  int64_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t number_ = 0;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool blank(std::string_view line) { return trim(line).empty(); }

std::string at_line(int64_t line) { return "line " + std::to_string(line); }

// A whole field as a number (a leading '+' allowed), else nullopt.
std::optional<double> parse_number(std::string_view s) {
  s = trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// One CSV record (RFC 4180 quoting, within one line). Unquoted fields are trimmed.
Result<std::vector<std::string>> split_csv(std::string_view line, int64_t line_no) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false, was_quoted = false, closed = false;
  auto finish = [&] {
    fields.push_back(was_quoted ? cur : std::string(trim(cur)));
    cur.clear();
    was_quoted = closed = false;
  };
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') {
        cur += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else {
        quoted = false;
        closed = true;
      }
    } else if (c == ',') {
      finish();
    } else if (closed) {
      if (c != ' ' && c != '\t')
        return invalid_argument(at_line(line_no) + ", field " + std::to_string(fields.size() + 1) +
                                ": text after a closing quote");
    } else if (c == '"' && trim(cur).empty()) {
      cur.clear();
      quoted = was_quoted = true;
    } else {
      cur += c;
    }
  }
  if (quoted)
    return invalid_argument(at_line(line_no) + ", field " + std::to_string(fields.size() + 1) +
                            ": unterminated quoted field (a field cannot span lines)");
  finish();
  return fields;
}

Truth truth_from_text(const std::string& text) {
  Truth t;
  t.text = text;
  if (auto v = parse_number(text)) {
    t.is_number = true;
    t.number = *v;
  }
  return t;
}

std::string shape_text(const Shape& s) { return shape_to_string(s); }

// The shape of a (possibly nested) JSON array, read along its first elements.
Shape shape_of(const json& v) {
  Shape shape;
  const json* cur = &v;
  while (cur->is_array()) {
    shape.push_back(static_cast<int64_t>(cur->size()));
    if (cur->empty()) break;
    cur = &(*cur)[0];
  }
  return shape;
}

// Appends the numbers of `v` (which must have `shape` from `depth` on) to `out`.
Status flatten(const json& v, const Shape& shape, size_t depth, std::vector<float>& out, const std::string& where) {
  if (depth == shape.size()) {
    if (!v.is_number()) return invalid_argument(where + " holds " + std::string(v.type_name()) + " " +
                                                v.dump().substr(0, 40) + ", not a number");
    const double d = v.get<double>();
    const auto f = static_cast<float>(d);
    if (!std::isfinite(d) || !std::isfinite(f))
      return invalid_argument(where + " holds " + v.dump() + ", beyond a finite FP32");
    out.push_back(f);
    return Status::ok();
  }
  if (!v.is_array() || static_cast<int64_t>(v.size()) != shape[depth])
    return invalid_argument(where + " is not rectangular (expected shape " + shape_text(shape) + ")");
  for (const auto& e : v) QUIVER_RETURN_IF_ERROR(flatten(e, shape, depth + 1, out, where));
  return Status::ok();
}

Result<Truth> truth_at(const json& v, const std::string& where) {
  auto t = truth_from_json(v);
  if (!t) return invalid_argument(where + " must be a number or a string, not " + std::string(v.type_name()));
  if (!t->is_number && t->text.empty()) return invalid_argument(where + " is empty");
  return *t;
}

}  // namespace

Result<Dataset> parse_dataset(std::string_view text, const std::optional<std::string>& label) {
  size_t i = 0;
  if (text.starts_with("\xEF\xBB\xBF")) i = 3;
  while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  if (i == text.size()) return invalid_argument("the dataset is empty");
  return text[i] == '{' ? parse_json_lines(text, label) : parse_csv(text, label);
}

Result<Dataset> parse_csv(std::string_view text, const std::optional<std::string>& label) {
  Dataset ds;
  ds.format = "csv";
  Lines lines(text);
  std::string_view line;
  std::vector<std::string> header;
  while (lines.next(line)) {
    if (blank(line)) continue;
    QUIVER_ASSIGN_OR_RETURN(header, split_csv(line, lines.number()));
    break;
  }
  if (header.empty()) return invalid_argument("the dataset is empty");
  const int64_t header_line = lines.number();
  std::set<std::string> seen;
  for (size_t c = 0; c < header.size(); ++c) {
    if (header[c].empty())
      return invalid_argument(at_line(header_line) + ": column " + std::to_string(c + 1) +
                              " has no name in the header");
    if (!seen.insert(header[c]).second)
      return invalid_argument(at_line(header_line) + ": column '" + header[c] + "' appears twice in the header");
  }
  if (header.size() < 2)
    return invalid_argument(at_line(header_line) + ": the header needs a label column and at least one feature column");
  size_t label_col = header.size() - 1;
  if (label) {
    auto it = std::find(header.begin(), header.end(), *label);
    if (it == header.end()) {
      std::string cols;
      for (const auto& h : header) cols += (cols.empty() ? "" : ", ") + h;
      return invalid_argument("label column '" + *label + "' is not in the header (columns: " + cols + ")");
    }
    label_col = static_cast<size_t>(it - header.begin());
  }
  ds.label = header[label_col];
  for (size_t c = 0; c < header.size(); ++c)
    if (c != label_col) ds.features.push_back(header[c]);

  DatasetInput input;
  input.row_size = ds.features.size();
  input.row_shape = {static_cast<int64_t>(input.row_size)};
  while (lines.next(line)) {
    if (blank(line)) continue;
    const int64_t n = lines.number();
    QUIVER_ASSIGN_OR_RETURN(auto fields, split_csv(line, n));
    if (fields.size() != header.size())
      return invalid_argument(at_line(n) + ": " + std::to_string(fields.size()) + " fields, but the header has " +
                              std::to_string(header.size()));
    for (size_t c = 0; c < fields.size(); ++c) {
      const std::string where = at_line(n) + ", column '" + header[c] + "'";
      if (fields[c].empty()) return invalid_argument(where + ": empty value");
      if (c == label_col) continue;
      auto v = parse_number(fields[c]);
      if (!v) return invalid_argument(where + ": '" + fields[c] + "' is not a number");
      const auto f = static_cast<float>(*v);
      if (!std::isfinite(*v) || !std::isfinite(f))
        return invalid_argument(where + ": '" + fields[c] + "' is not a finite FP32 number");
      input.values.push_back(f);
    }
    ds.truths.push_back(truth_from_text(fields[label_col]));
    ds.lines.push_back(n);
  }
  if (ds.rows() == 0) return invalid_argument("the dataset has a header but no rows");
  ds.inputs.push_back(std::move(input));
  return ds;
}

Result<Dataset> parse_json_lines(std::string_view text, const std::optional<std::string>& label) {
  Dataset ds;
  ds.format = "jsonl";
  ds.label = label.value_or("label");
  Lines lines(text);
  std::string_view line;
  bool named = false;  // "inputs" (true) or "features" (false), fixed by the first row
  int64_t first_line = 0;
  while (lines.next(line)) {
    if (blank(line)) continue;
    const int64_t n = lines.number();
    const std::string here = at_line(n);
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) return invalid_argument(here + ": not valid JSON");
    if (!j.is_object()) return invalid_argument(here + ": each line must be a JSON object");
    const bool has_features = j.contains("features"), has_inputs = j.contains("inputs");
    if (has_features == has_inputs)
      return invalid_argument(here + ": needs exactly one of \"features\" (an array) or \"inputs\" (an object)");
    if (!j.contains(ds.label)) return invalid_argument(here + ": no \"" + ds.label + "\" key (the label)");
    QUIVER_ASSIGN_OR_RETURN(Truth truth, truth_at(j[ds.label], here + ": \"" + ds.label + "\""));

    // This row's inputs by name ("" for features).
    std::map<std::string, const json*> row;
    if (has_features) {
      row[""] = &j["features"];
    } else {
      if (!j["inputs"].is_object() || j["inputs"].empty())
        return invalid_argument(here + ": \"inputs\" must be an object of input name -> array");
      for (const auto& [name, v] : j["inputs"].items()) row[name] = &v;
    }
    if (ds.rows() == 0) {
      named = has_inputs;
      first_line = n;
      for (const auto& [name, v] : row) {
        DatasetInput in;
        in.name = name;
        in.row_shape = shape_of(*v);
        in.row_size = 1;
        for (int64_t d : in.row_shape) in.row_size *= static_cast<size_t>(d);
        const std::string where = here + ": " + (name.empty() ? "\"features\"" : "input '" + name + "'");
        if (!v->is_array()) return invalid_argument(where + " must be an array");
        if (in.row_size == 0) return invalid_argument(where + " is empty");
        ds.inputs.push_back(std::move(in));
      }
    } else {
      if (named != has_inputs)
        return invalid_argument(here + ": uses \"" + (has_inputs ? "inputs" : "features") + "\" but " +
                                at_line(first_line) + " uses \"" + (named ? "inputs" : "features") + "\"");
      if (row.size() != ds.inputs.size())
        return invalid_argument(here + ": has " + std::to_string(row.size()) + " inputs, " + at_line(first_line) +
                                " has " + std::to_string(ds.inputs.size()));
    }
    for (auto& in : ds.inputs) {
      auto it = row.find(in.name);
      if (it == row.end()) return invalid_argument(here + ": input '" + in.name + "' is missing");
      const std::string where = here + ": " + (in.name.empty() ? "\"features\"" : "input '" + in.name + "'");
      if (const Shape s = shape_of(*it->second); s != in.row_shape)
        return invalid_argument(where + " has shape " + shape_text(s) + ", but " + at_line(first_line) + " has " +
                                shape_text(in.row_shape));
      QUIVER_RETURN_IF_ERROR(flatten(*it->second, in.row_shape, 0, in.values, where));
    }
    ds.truths.push_back(std::move(truth));
    ds.lines.push_back(n);
  }
  if (ds.rows() == 0) return invalid_argument("the dataset has no rows");
  return ds;
}

}  // namespace quiver::quality
