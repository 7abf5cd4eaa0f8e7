// Percent-encoding (RFC 3986) of one URL component: a path segment, a query name or value, a
// form field, a cookie value. Unreserved characters (A-Z a-z 0-9 - . _ ~) stay; every other byte
// becomes %XX, so spaces are %20. Thread-safe, pure function.
#pragma once

#include <string>
#include <string_view>

namespace flowrun {

std::string PercentEncode(std::string_view text);

}  // namespace flowrun
