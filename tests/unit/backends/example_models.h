// The example models (scripts/make_example_models.py) for backend tests.
//
// They are built once per build tree: the first test process to need them runs the
// script into a fresh folder and renames it into place, so parallel ctest processes
// share one copy; a change to the script (size or mtime) rebuilds them. Tests that
// need them call QUIVER_REQUIRE_EXAMPLE_MODELS(), which skips the test with the
// reason when Debian's python3 with torch and onnx is not there.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "core/tensor.h"

namespace quiver::testing {

struct ExampleModels {
  bool available = false;
  std::string skip_reason;
  std::filesystem::path dir;
  nlohmann::json reference;  // reference.json: fixed inputs and PyTorch's outputs

  std::filesystem::path path(const std::string& file) const { return dir / file; }
};

inline std::filesystem::path quiver_source_dir() {
  if (const char* env = std::getenv("QUIVER_SOURCE_DIR"); env && *env) return env;
  // tests/unit/backends/example_models.h -> the source root
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path().parent_path();
}

inline std::string python_interpreter() {
  // Debian's interpreter has python3-torch; a python3 earlier on PATH may not.
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::filesystem::path test_models_root() {
  const char* binary_dir = std::getenv("QUIVER_BINARY_DIR");
  return (binary_dir && *binary_dir ? std::filesystem::path(binary_dir) : std::filesystem::temp_directory_path()) /
         "quiver-test-models";
}

inline bool python_has_torch() {
  static const bool has = std::system((python_interpreter() + " -c 'import torch, onnx' >/dev/null 2>&1").c_str()) == 0;
  return has;
}

// Runs `python3 SCRIPT OUT_DIR` unless test_models_root()/NAME already holds its
// output for the same `stamp`; returns that folder, or nothing with `error` set
// (Python with torch missing, or the script failing).
// The script writes into a private folder that is then renamed into place, so
// concurrent test processes never see a half-written one.
inline std::optional<std::filesystem::path> build_once(const std::string& name, const std::filesystem::path& script,
                                                       const std::string& stamp, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root = test_models_root();
  const fs::path dir = root / name;
  fs::create_directories(root, ec);
  if (read_text(dir / "stamp") == stamp) return dir;  // built before: no Python needed
  if (!python_has_torch()) {
    error = "needs " + python_interpreter() + " with torch and onnx (Debian python3-torch, python3-onnx)";
    return std::nullopt;
  }
  const std::string pid = std::to_string(::getpid());
  const fs::path fresh = root / (name + ".building-" + pid);
  const fs::path log = root / (name + ".log");
  fs::remove_all(fresh, ec);
  fs::create_directories(fresh, ec);
  const std::string command =
      python_interpreter() + " '" + script.string() + "' '" + fresh.string() + "' >'" + log.string() + "' 2>&1";
  if (std::system(command.c_str()) != 0) {
    error = script.filename().string() + " failed; see " + log.string();
    fs::remove_all(fresh, ec);
    return std::nullopt;
  }
  std::ofstream(fresh / "stamp") << stamp;
  // Another process may have put the same build in place meanwhile, and may be reading
  // it now: keep it rather than swapping it away under that reader.
  if (read_text(dir / "stamp") == stamp) {
    fs::remove_all(fresh, ec);
    return dir;
  }
  const fs::path old = root / (name + ".old-" + pid);
  fs::rename(dir, old, ec);  // fails harmlessly when there is none
  fs::remove_all(old, ec);
  fs::rename(fresh, dir, ec);
  if (ec) fs::remove_all(fresh, ec);  // another process put its copy in place first
  return dir;
}

inline ExampleModels build_example_models() {
  namespace fs = std::filesystem;
  ExampleModels models;
  const fs::path script = quiver_source_dir() / "scripts" / "make_example_models.py";
  std::error_code ec;
  const auto mtime = fs::last_write_time(script, ec);
  if (ec) {
    models.skip_reason = "cannot find " + script.string();
    ADD_FAILURE() << models.skip_reason;
    return models;
  }
  const std::string stamp = std::to_string(fs::file_size(script, ec)) + ":" +
                            std::to_string(mtime.time_since_epoch().count());
  auto dir = build_once("examples", script, stamp, models.skip_reason);
  if (!dir) {
    if (python_has_torch()) ADD_FAILURE() << models.skip_reason;  // the script itself failed
    return models;
  }
  models.dir = *dir;
  models.reference = nlohmann::json::parse(read_text(models.dir / "reference.json"));
  models.available = true;
  return models;
}

inline const ExampleModels& example_models() {
  static const ExampleModels models = build_example_models();
  return models;
}

#define QUIVER_REQUIRE_EXAMPLE_MODELS()                                                 \
  do {                                                                                  \
    if (!::quiver::testing::example_models().available) {                              \
      GTEST_SKIP() << ::quiver::testing::example_models().skip_reason;                  \
    }                                                                                   \
  } while (0)

// A tensor from one entry of reference.json ({"name", "datatype", "shape", "data"}).
inline Tensor reference_tensor(const nlohmann::json& entry) {
  const auto values = entry.at("data").get<std::vector<float>>();
  return Tensor::from_values<float>(entry.at("name").get<std::string>(), DataType::kFp32,
                                    entry.at("shape").get<Shape>(), values);
}

// `rows` rows of a deterministic FP32 batch of the given width.
inline Tensor make_batch(const std::string& name, int64_t rows, int64_t width, float seed = 0.0f) {
  std::vector<float> values(static_cast<size_t>(rows * width));
  for (size_t i = 0; i < values.size(); ++i) values[i] = seed + 0.1f * static_cast<float>(i % 17) - 0.7f;
  return Tensor::from_values<float>(name, DataType::kFp32, {rows, width}, values);
}

}  // namespace quiver::testing
