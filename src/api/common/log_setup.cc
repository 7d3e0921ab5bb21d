#include "api/common/log_setup.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <optional>

#include "api/common/json_text.h"

namespace quiver::api {
namespace {

std::optional<spdlog::level::level_enum> level_of(std::string_view name) {
  if (name == "trace") return spdlog::level::trace;
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return std::nullopt;
}

// %* in the JSON pattern: the message, escaped for a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped;
    append_json_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

}  // namespace

void append_json_escaped(std::string& out, std::string_view text) { out += json_escape(text); }

Status check_log_options(std::string_view level, std::string_view format) {
  if (!level_of(level)) {
    return invalid_argument("--log-level must be trace, debug, info, warn or error, not '" + std::string(level) + "'");
  }
  if (format != "text" && format != "json") {
    return invalid_argument("--log-format must be text or json, not '" + std::string(format) + "'");
  }
  return Status::ok();
}

Status configure_logging(std::string_view level, std::string_view format) {
  QUIVER_RETURN_IF_ERROR(check_log_options(level, format));
  auto logger = spdlog::stderr_color_mt("quiver");
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","thread":%t,"msg":"%*"})");
    logger->set_formatter(std::move(formatter));
  }
  logger->set_level(*level_of(level));
  // Warnings and errors reach the terminal (or the collector) at once; lower levels
  // are flushed by the stream as usual.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
  return Status::ok();
}

}  // namespace quiver::api
