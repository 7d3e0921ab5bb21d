#include "registry/signature_json.h"

#include <nlohmann/json.hpp>

#include <set>

namespace quiver::registry {
namespace {

using nlohmann::json;

nlohmann::ordered_json specs_to_json(const std::vector<TensorSpec>& specs) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const TensorSpec& s : specs) {
    nlohmann::ordered_json entry;
    entry["name"] = s.name;
    entry["datatype"] = std::string(datatype_name(s.dtype));
    entry["shape"] = s.shape;
    out.push_back(entry);
  }
  return out;
}

Result<std::vector<TensorSpec>> specs_from_json(const json& value, const std::string& where) {
  if (!value.is_array()) return invalid_argument("'" + where + "' must be an array of tensor specs");
  std::vector<TensorSpec> specs;
  for (size_t i = 0; i < value.size(); ++i) {
    const std::string at = where + "[" + std::to_string(i) + "]";
    const json& e = value[i];
    if (!e.is_object()) return invalid_argument(at + " must be an object with name, datatype and shape");
    for (const auto& [key, unused] : e.items())
      if (key != "name" && key != "datatype" && key != "shape")
        return invalid_argument("unknown field '" + key + "' in " + at);
    TensorSpec spec;
    if (!e.contains("name") || !e["name"].is_string()) return invalid_argument(at + ".name must be a string");
    spec.name = e["name"].get<std::string>();
    if (!e.contains("datatype") || !e["datatype"].is_string())
      return invalid_argument(at + ".datatype must be a string such as \"FP32\"");
    const auto dtype = parse_datatype(e["datatype"].get<std::string>());
    if (!dtype) return invalid_argument(at + ".datatype: unknown datatype '" + e["datatype"].get<std::string>() + "'");
    spec.dtype = *dtype;
    if (!e.contains("shape") || !e["shape"].is_array())
      return invalid_argument(at + ".shape must be an array of integers (-1 for a variable dimension)");
    for (const json& d : e["shape"]) {
      if (!d.is_number_integer()) return invalid_argument(at + ".shape must contain only integers");
      spec.shape.push_back(d.get<int64_t>());
    }
    specs.push_back(std::move(spec));
  }
  return specs;
}

Status validate_side(const std::vector<TensorSpec>& specs, const char* side) {
  std::set<std::string> seen;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string at = std::string(side) + "[" + std::to_string(i) + "]";
    if (specs[i].name.empty()) return invalid_argument(at + ".name must not be empty");
    if (!seen.insert(specs[i].name).second)
      return invalid_argument(std::string(side) + " names tensor '" + specs[i].name + "' twice");
    for (int64_t d : specs[i].shape)
      if (d < -1)
        return invalid_argument(at + ".shape " + shape_to_string(specs[i].shape) +
                                ": dimensions must be >= 0, or -1 for a variable size");
  }
  return Status::ok();
}

}  // namespace

std::string signature_to_json(const ModelSignature& signature) {
  nlohmann::ordered_json out;
  out["inputs"] = specs_to_json(signature.inputs);
  out["outputs"] = specs_to_json(signature.outputs);
  return out.dump();
}

Result<ModelSignature> signature_from_json(std::string_view json_text) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    return invalid_argument(std::string("signature is not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return invalid_argument("signature must be a JSON object with inputs and outputs");
  ModelSignature sig;
  for (const auto& [key, value] : doc.items()) {
    if (key == "inputs") {
      QUIVER_ASSIGN_OR_RETURN(sig.inputs, specs_from_json(value, "inputs"));
    } else if (key == "outputs") {
      QUIVER_ASSIGN_OR_RETURN(sig.outputs, specs_from_json(value, "outputs"));
    } else {
      return invalid_argument("unknown field '" + key + "' in signature");
    }
  }
  QUIVER_RETURN_IF_ERROR(validate_signature(sig));
  return sig;
}

Status validate_signature(const ModelSignature& signature) {
  QUIVER_RETURN_IF_ERROR(validate_side(signature.inputs, "inputs"));
  return validate_side(signature.outputs, "outputs");
}

}  // namespace quiver::registry
