#include "server/dashboard_assets.h"

#include <utility>

#include "common/embedded_files.h"

namespace flowrun {
namespace {

constexpr std::string_view kRoot = "src/server/dashboard/";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// A relative path made of plain segments only.
bool IsSafeRelativePath(std::string_view path) {
  if (path.empty()) return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    for (char c : segment) {
      if (c == '\\' || c == '\0' || c == '%') return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

DashboardAssets::DashboardAssets(FileSource source) : source_(std::move(source)) {
  if (!source_) source_ = [](std::string_view path) { return EmbeddedFile(path); };
}

std::string DashboardAssets::ContentTypeFor(std::string_view file_name) {
  static const std::pair<std::string_view, std::string_view> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},
  };
  for (const auto& [extension, type] : kTypes) {
    if (EndsWith(file_name, extension)) return std::string(type);
  }
  return "application/octet-stream";
}

std::optional<DashboardAsset> DashboardAssets::Find(std::string_view request_path) const {
  std::string file;
  if (request_path == "/" || request_path == "/index.html") {
    file = std::string(kRoot) + "index.html";
  } else if (request_path.starts_with("/assets/")) {
    std::string_view relative = request_path.substr(1);
    if (!IsSafeRelativePath(relative)) return std::nullopt;
    file = std::string(kRoot) + std::string(relative);
  } else {
    return std::nullopt;
  }
  std::optional<std::string_view> content = source_(file);
  if (!content.has_value()) return std::nullopt;
  return DashboardAsset{*content, ContentTypeFor(file)};
}

}  // namespace flowrun
