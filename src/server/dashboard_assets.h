// DashboardAssets: the dashboard's static files, served by the HTTP API at `/` and `/assets/*`
// from files embedded in the binary at build time (common/embedded_files.h; CMake embeds
// src/server/dashboard/**/*.html, *.js and *.css).
//
//   GET /                 -> src/server/dashboard/index.html
//   GET /assets/<path>    -> src/server/dashboard/assets/<path>
//
// Every response carries a Content-Type by extension and a Content-Security-Policy that allows
// nothing from other origins (kDashboardCsp), plus X-Content-Type-Options: nosniff.
//
// Thread-safety: immutable after construction; Find is safe from many threads.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace flowrun {

// Scripts, styles, images, fetches and frames from this origin only; no inline script, no
// plugins, no framing by other sites.
inline constexpr std::string_view kDashboardCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

struct DashboardAsset {
  std::string_view content;
  std::string content_type;
};

class DashboardAssets {
 public:
  // Looks a file up by its path relative to the project root ("src/server/dashboard/index.html").
  // Default: EmbeddedFile.
  using FileSource = std::function<std::optional<std::string_view>(std::string_view path)>;

  explicit DashboardAssets(FileSource source = {});

  // The asset for a request path ("/", "/index.html", "/assets/app.js"), or nullopt when there is
  // none. Paths with "..", backslashes, NUL or empty segments are never found.
  std::optional<DashboardAsset> Find(std::string_view request_path) const;

  // The Content-Type for a file name by its extension; application/octet-stream when unknown.
  static std::string ContentTypeFor(std::string_view file_name);

 private:
  FileSource source_;
};

}  // namespace flowrun
