// HttpRequest and HttpResponse: the request a route handler reads and the response it fills in,
// independent of the server that carries them (http_server.h). Header names compare without
// regard to case; a header or query parameter may occur more than once.
//
// Thread-safety: values; share read-only.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace flowrun {

// Orders header names without regard to ASCII case.
struct HeaderNameLess {
  bool operator()(std::string_view a, std::string_view b) const;
  using is_transparent = void;
};

using HttpHeaders = std::multimap<std::string, std::string, HeaderNameLess>;
using QueryParams = std::multimap<std::string, std::string, std::less<>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", … ("HEAD" reaches handlers as itself)
  std::string target;  // as sent: path and query
  std::string path;    // the target up to '?', percent-decoded ("/v1/flows/team%2Fa": "team/a")
  HttpHeaders headers;
  QueryParams params;  // the query, percent-decoded ('+' is a space)
  std::string body;
  std::string remote_ip;

  bool has_header(std::string_view name) const { return headers.find(name) != headers.end(); }
  // The `index`th value of header `name`, or "" when it has fewer values.
  std::string get_header_value(std::string_view name, size_t index = 0) const;
  size_t get_header_value_count(std::string_view name) const { return headers.count(name); }
  bool has_param(std::string_view name) const { return params.find(name) != params.end(); }
  // The first value of query parameter `name`, or "" when absent.
  std::string get_param_value(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;

  // Replaces every value of header `name`.
  void set_header(std::string_view name, std::string value);
  // Sets the body and its Content-Type.
  void set_content(std::string content, std::string_view content_type);
};

// Decodes the %XX escapes of a request path ('+' stays itself); a malformed escape stays as sent.
std::string DecodePath(std::string_view path);

// Splits a query string ("a=1&b=x%20y") into percent-decoded parameters. A malformed escape
// leaves that name or value as sent.
QueryParams ParseQuery(std::string_view query);

}  // namespace flowrun
