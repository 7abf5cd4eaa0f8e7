// Dotted JSON paths ("data.order.id"), as wait matches and flow-control keys use them, and the
// canonical text of a value used as an index key.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"

namespace flowrun {

// "data.order.id" -> {"data", "order", "id"}. An empty path is one empty segment.
std::vector<std::string> SplitJsonPath(const std::string& path);
// The inverse of SplitJsonPath.
std::string JoinJsonPath(const std::vector<std::string>& path);

// The value at `path` in `value` (object members by name, array items by decimal index); null
// when absent.
Json ExtractPath(const Json& value, const std::vector<std::string>& path);

// The canonical text of a JSON value used as an index key: integral floats become integers, so
// 1 and 1.0 match.
std::string CanonicalKey(const Json& value);

}  // namespace flowrun
