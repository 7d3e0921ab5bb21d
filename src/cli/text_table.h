// Plain-text tables and cell formatting for the client commands' output.
//
// Cells are read from server answers that may lack fields (an older server, or a
// field not filled in yet), so every formatter takes a possibly-missing JSON value
// and prints "-" for it rather than failing.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace quiver::cli {

using TableRow = std::vector<std::string>;

// Left-aligned columns two spaces apart, header first, no trailing spaces; each line
// ends with '\n'. Widths count UTF-8 characters, not bytes.
std::string render_table(const TableRow& header, const std::vector<TableRow>& rows);

// The member `key` of `object`, or nullptr when `object` is not an object or lacks it.
const nlohmann::json* field(const nlohmann::json& object, std::string_view key);

// A scalar as people read it: strings unquoted, numbers as JSON writes them,
// null/missing as "-"; arrays and objects as compact JSON.
std::string cell(const nlohmann::json* value);

// 0.9 -> "90%", 0.913 -> "91.3%" (a fraction in [0, 1]); "-" when missing.
std::string percent_cell(const nlohmann::json* fraction);

// A number with `decimals` digits and an optional unit ("4.1 ms"); "-" when missing.
std::string number_cell(const nlohmann::json* value, int decimals, std::string_view unit = "");

// A version as written by the server: 3 and "3" both print 3.
std::string version_text(const nlohmann::json& version);

}  // namespace quiver::cli
