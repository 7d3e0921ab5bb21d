// Runs the `quiver` client commands in-process, as main() would, capturing what they
// print; shared by the CLI command tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/client_commands.h"

namespace quiver::cli::test_support {

struct Outcome {
  int exit_code = 0;
  std::string out;
  std::string err;
};

inline Outcome run_cli(std::vector<std::string> args) {
  CLI::App app("quiver");
  app.require_subcommand(1);
  register_client_commands(app);
  args.insert(args.begin(), "quiver");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());

  Outcome outcome;
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    outcome.exit_code = e.get_exit_code();
  }
  outcome.out = ::testing::internal::GetCapturedStdout();
  outcome.err = ::testing::internal::GetCapturedStderr();
  return outcome;
}

// `text` has `line` as one whole line.
inline bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace quiver::cli::test_support
