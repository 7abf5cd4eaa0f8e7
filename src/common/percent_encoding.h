// Percent-encoding (RFC 3986), both ways.
// - PercentEncode encodes one URL component: a path segment, a query name or value, a form field,
//   a cookie value. Unreserved characters (A-Z a-z 0-9 - . _ ~) and the bytes in `also_keep`
//   stay; every other byte becomes %XX, so spaces are %20.
// - PercentDecode decodes %XX escapes (either case) and '+' (a space) in a query part, form field
//   or cookie value; nullopt for a malformed escape.
// Thread-safe, pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flowrun {

std::string PercentEncode(std::string_view text, std::string_view also_keep = {});
std::optional<std::string> PercentDecode(std::string_view text);

}  // namespace flowrun
