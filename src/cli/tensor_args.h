// Parsing of the small structured arguments the client commands take:
//   --input NAME:DTYPE:DIMS          (push: a tensor spec, DIMS like "-1,4")
//   --input NAME:DTYPE:DIMS=v1,v2,.. (infer: a tensor with its values)
//   --metadata key=value, --header key:value
//
// Errors are kInvalidArgument with a message that quotes the argument.
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace quiver::cli {

// "x:FP32:-1,4" -> {"name": "x", "datatype": "FP32", "shape": [-1, 4]}. The datatype
// is case-insensitive and sent upper-case; empty DIMS is a scalar (shape []).
Result<nlohmann::json> parse_tensor_spec_arg(std::string_view arg);

// "x:FP32:2,2=1,2,3,4" -> an Open Inference Protocol input
// {"name", "datatype", "shape", "data": [...]}, values typed by the datatype (BOOL
// takes true/false/1/0, BYTES takes text). One dimension may be -1: it is worked out
// from the number of values.
Result<nlohmann::json> parse_tensor_value_arg(std::string_view arg);

// "key=value" (split at the first '='; the key must not be empty).
Result<std::pair<std::string, std::string>> parse_key_value_arg(std::string_view arg);

// "Name: value" (split at the first ':'; spaces around the value are dropped; the
// name must be an HTTP token).
Result<std::pair<std::string, std::string>> parse_header_arg(std::string_view arg);

}  // namespace quiver::cli
