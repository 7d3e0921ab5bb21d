#include "cli/bench_options.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

namespace quiver::cli {
namespace {

constexpr int kMaxConcurrency = 10'000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::chrono::nanoseconds> parse_duration_arg(std::string_view text, bool allow_zero) {
  const std::string_view arg = trim(text);
  const auto bad = [&] {
    return invalid_argument(fmt::format("'{}' is not a duration; write e.g. 10s, 500ms or 2m", text));
  };
  size_t unit_at = arg.size();
  while (unit_at > 0 && std::isalpha(static_cast<unsigned char>(arg[unit_at - 1]))) --unit_at;
  const std::string_view unit = arg.substr(unit_at);
  const std::string number(arg.substr(0, unit_at));
  if (number.empty()) return bad();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(number, &used);
    if (used != number.size()) return bad();
  } catch (const std::exception&) {
    return bad();
  }
  double seconds_per_unit = 0;
  if (unit.empty() || unit == "s") {
    seconds_per_unit = 1;
  } else if (unit == "ms") {
    seconds_per_unit = 1e-3;
  } else if (unit == "us") {
    seconds_per_unit = 1e-6;
  } else if (unit == "m") {
    seconds_per_unit = 60;
  } else if (unit == "h") {
    seconds_per_unit = 3600;
  } else {
    return bad();
  }
  const double ns = value * seconds_per_unit * 1e9;
  if (allow_zero && ns == 0) return std::chrono::nanoseconds(0);
  // Also refuses NaN and anything beyond ~290 years, which int64 ns cannot hold.
  if (!(ns >= 1) || ns > 9e18) {
    return invalid_argument(fmt::format("duration '{}' must be {}", text, allow_zero ? "0 or more" : "positive"));
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

Result<std::vector<int>> parse_concurrency_list(std::string_view text) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string_view part = trim(text.substr(start, comma - start));
    int value = 0;
    const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || ec != std::errc() || end != part.data() + part.size() || value < 1 ||
        value > kMaxConcurrency) {
      return invalid_argument(fmt::format(
          "--concurrency '{}': give positive whole numbers up to {}, comma-separated (e.g. 1,4,16)", text,
          kMaxConcurrency));
    }
    out.push_back(value);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

Result<std::string> grpc_server_address(std::string_view given, std::string_view http_host,
                                        std::string_view default_port) {
  const std::string_view arg = trim(given);
  if (arg.empty()) {
    if (http_host.find(':') != std::string_view::npos) return fmt::format("[{}]:{}", http_host, default_port);
    return fmt::format("{}:{}", http_host, default_port);
  }
  const auto bad = [&](std::string_view why) {
    return invalid_argument(fmt::format("--grpc-server '{}': {}; write HOST:PORT, e.g. 127.0.0.1:8001", given, why));
  };
  if (arg.find("://") != std::string_view::npos) return bad("a gRPC address has no scheme");
  const size_t colon = arg.rfind(':');
  if (colon == std::string_view::npos) return bad("the port is missing");
  const std::string_view host = arg.substr(0, colon);
  const std::string_view port = arg.substr(colon + 1);
  int port_number = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || port_number < 1 ||
      port_number > 65535) {
    return bad("the port must be a number from 1 to 65535");
  }
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (host.empty() || (!bracketed && host.find_first_of(":[]") != std::string_view::npos)) {
    return bad("the host is missing or malformed (write IPv6 addresses in brackets)");
  }
  return std::string(arg);
}

}  // namespace quiver::cli
