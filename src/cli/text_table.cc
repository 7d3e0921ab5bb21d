#include "cli/text_table.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace quiver::cli {
namespace {

// Counts UTF-8 code points: continuation bytes (10xxxxxx) take no column.
size_t display_width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void append_row(std::string& out, const TableRow& row, const std::vector<size_t>& widths) {
  std::string line;
  for (size_t i = 0; i < row.size(); ++i) {
    line += row[i];
    if (i + 1 < row.size()) line.append(widths[i] - display_width(row[i]) + 2, ' ');
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line;
  out += '\n';
}

}  // namespace

std::string render_table(const TableRow& header, const std::vector<TableRow>& rows) {
  size_t columns = header.size();
  for (const auto& row : rows) columns = std::max(columns, row.size());
  std::vector<size_t> widths(columns, 0);
  const auto measure = [&](const TableRow& row) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  };
  measure(header);
  for (const auto& row : rows) measure(row);

  std::string out;
  append_row(out, header, widths);
  for (const auto& row : rows) append_row(out, row, widths);
  return out;
}

const nlohmann::json* field(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string cell(const nlohmann::json* value) {
  if (value == nullptr || value->is_null()) return "-";
  if (value->is_string()) {
    const auto& s = value->get_ref<const std::string&>();
    return s.empty() ? "-" : s;
  }
  return value->dump();
}

std::string percent_cell(const nlohmann::json* fraction) {
  if (fraction == nullptr || !fraction->is_number()) return "-";
  const double percent = fraction->get<double>() * 100.0;
  // Whole percentages print bare ("90%"); others keep one decimal ("91.3%").
  if (std::abs(percent - std::round(percent)) < 1e-9) return fmt::format("{:.0f}%", percent);
  return fmt::format("{:.1f}%", percent);
}

std::string number_cell(const nlohmann::json* value, int decimals, std::string_view unit) {
  if (value == nullptr || !value->is_number()) return "-";
  std::string text = value->is_number_float() ? fmt::format("{:.{}f}", value->get<double>(), decimals)
                                              : value->dump();
  if (!unit.empty()) text += fmt::format(" {}", unit);
  return text;
}

std::string version_text(const nlohmann::json& version) {
  if (version.is_string()) return version.get<std::string>();
  if (version.is_null()) return "-";
  return version.dump();
}

}  // namespace quiver::cli
