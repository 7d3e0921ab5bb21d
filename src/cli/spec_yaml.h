// Reading deployment specs written by people (`quiver apply -f spec.yaml`).
//
// YAML is turned into the JSON the server takes, following YAML 1.2's core schema:
// an unquoted scalar that reads as an integer, a float, true/false or null becomes
// that JSON type; a quoted one stays a string. One exception: the value of any
// "version" key is kept as the text written ("3", "canary"), because a version may
// be a number or an alias and the server takes both spellings.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace quiver::cli {

// Parses one YAML document (JSON is accepted too: documents that parse as JSON are
// taken exactly as JSON). `source_name` names the input in error messages.
Result<nlohmann::json> yaml_to_json(std::string_view text, std::string_view source_name = "input");

// A deployment document split into the model it is for and the spec to send.
struct DeploymentDocument {
  std::string model;
  nlohmann::json spec;  // the document without its "model" key
};

// Splits the top-level "model" key off `document` (which must be a mapping).
// `model_flag` (from --model) is used when the document names no model; when both
// are given they must agree.
Result<DeploymentDocument> split_deployment_document(nlohmann::json document,
                                                     std::string_view model_flag);

}  // namespace quiver::cli
