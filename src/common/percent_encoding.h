// Percent-encoding (RFC 3986). PercentEncode encodes one URL component: a path segment, a query
// name or value, a form field, a cookie value. Unreserved characters (A-Z a-z 0-9 - . _ ~) and
// the bytes in `also_keep` stay; every other byte becomes %XX, so spaces are %20.
// Thread-safe, pure function.
#pragma once

#include <string>
#include <string_view>

namespace flowrun {

std::string PercentEncode(std::string_view text, std::string_view also_keep = {});

}  // namespace flowrun
