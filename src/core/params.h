// Request parameters (the OIP "parameters" object) as the data plane sees them:
// routing rules and sticky keys read them, so they are parsed once per request.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <variant>

namespace quiver {

using ParamValue = std::variant<bool, int64_t, double, std::string>;
using Params = std::map<std::string, ParamValue, std::less<>>;

// Header names are stored lower-cased.
using Headers = std::map<std::string, std::string, std::less<>>;

}  // namespace quiver
