// The JSON value type used throughout flowrun: events, step inputs and outputs, flow documents.
// nlohmann::json keeps object keys sorted, which makes serialization canonical.
#pragma once

#include <nlohmann/json.hpp>

namespace flowrun {
using Json = nlohmann::json;
}  // namespace flowrun
