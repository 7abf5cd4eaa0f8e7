// ApiClient: how the CLI's client commands (`flowrun send`, `flowrun runs`) talk to a running
// `flowrun serve` over its HTTP API (docs/api.md), with cpp-httplib's client.
//
// Errors: kUnavailable when the server cannot be reached (the commands exit 2 on it);
// kInvalidArgument for a malformed URL. An HTTP error answer is not an error here: the caller gets
// the status and the JSON body, and ErrorMessage extracts the message.
//
// Thread-safety: one client per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/json.h"
#include "common/percent_encoding.h"
#include "common/status.h"

namespace flowrun::cli {

// The server's URL when neither --url nor FLOWRUN_URL is given.
inline constexpr std::string_view kDefaultServerUrl = "http://127.0.0.1:8288";

// `flag` when non-empty, else the environment variable `env`, else `fallback`.
std::string FlagOrEnv(const std::string& flag, const char* env, std::string_view fallback = "");

struct ApiResponse {
  int status = 0;
  Json body;  // the parsed JSON body; a body that is not JSON is kept as a string
  bool ok() const { return status >= 200 && status < 300; }
  // The error message of a JSON error body, else a generic "HTTP <status>".
  std::string ErrorMessage() const;
};

class ApiClient {
 public:
  // `url` is http(s)://host[:port]; `token` is sent as a Bearer token when non-empty.
  [[nodiscard]] static StatusOr<std::unique_ptr<ApiClient>> Create(const std::string& url,
                                                                   const std::string& token);
  ~ApiClient();

  // `path` includes any query string, already encoded.
  [[nodiscard]] StatusOr<ApiResponse> Get(const std::string& path);
  [[nodiscard]] StatusOr<ApiResponse> Post(const std::string& path, const Json& body);

  const std::string& url() const { return url_; }

 private:
  class Impl;
  ApiClient(std::string url, std::unique_ptr<Impl> impl);
  std::string url_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowrun::cli
