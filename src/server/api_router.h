// ApiRouter: the HTTP API's route table. A route is a method, a path pattern, the access it
// requires and a handler. Patterns are literal segments and parameters:
//
//   /v1/runs/{id}/cancel     {id} matches one non-empty segment
//   /v1/flows/{id*}/invoke   {id*} matches one or more segments, joined by '/' (flow ids contain
//                            slashes); at most one per pattern
//
// Match tells a request's route apart from "no such path" (404) and "path known, method not
// allowed" (405, with the methods to list in Allow). A route's pattern text doubles as its metric
// label, so label values are bounded by the number of routes.
//
// Thread-safety: Add before serving; Match is then safe from many threads.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowrun {

// Who may call a route.
enum class RouteAccess {
  kPublic,    // anyone: health checks, webhooks (they carry signatures), the login page
  kApiToken,  // a configured API token, when any is configured
  kEventKey,  // the {event_key} path parameter must be a configured event key, when any is
};

using PathParams = std::map<std::string, std::string, std::less<>>;

template <typename Handler>
class ApiRouter {
 public:
  struct Route {
    std::string method;
    std::string pattern;  // as written, e.g. "/v1/runs/{id}"; the metric label
    RouteAccess access = RouteAccess::kPublic;
    Handler handler;
  };

  struct Match {
    const Route* route = nullptr;  // null: no route for this method
    PathParams params;
    std::vector<std::string> allowed_methods;  // when route is null: the path's other methods
  };

  // REQUIRES: a well-formed pattern starting with '/'.
  void Add(std::string method, std::string pattern, RouteAccess access, Handler handler) {
    routes_.push_back(Route{std::move(method), std::move(pattern), access, std::move(handler)});
  }

  // The route for (method, path). Routes are tried in the order added; the first match of the
  // method wins. HEAD matches GET routes.
  Match Find(std::string_view method, std::string_view path) const {
    Match match;
    std::string_view wanted = method == "HEAD" ? std::string_view("GET") : method;
    for (const Route& route : routes_) {
      std::optional<PathParams> params = MatchPattern(route.pattern, path);
      if (!params.has_value()) continue;
      if (route.method == wanted) {
        match.route = &route;
        match.params = std::move(*params);
        match.allowed_methods.clear();
        return match;
      }
      bool listed = false;
      for (const auto& m : match.allowed_methods) listed |= m == route.method;
      if (!listed) match.allowed_methods.push_back(route.method);
    }
    return match;
  }

  const std::vector<Route>& routes() const { return routes_; }

  // The parameters of `path` under `pattern`, or nullopt when it does not match.
  static std::optional<PathParams> MatchPattern(std::string_view pattern, std::string_view path);

 private:
  std::vector<Route> routes_;
};

// Splits "/a/b/c" into {"a", "b", "c"}; "/" into {}; empty segments are kept ("/a//b").
std::vector<std::string_view> SplitUrlPath(std::string_view path);

template <typename Handler>
std::optional<PathParams> ApiRouter<Handler>::MatchPattern(std::string_view pattern,
                                                           std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string_view> want = SplitUrlPath(pattern);
  std::vector<std::string_view> have = SplitUrlPath(path);
  PathParams params;
  size_t greedy = want.size();
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].ends_with("*}")) greedy = i;
  }
  auto match_one = [&params](std::string_view w, std::string_view h) {
    if (w.size() >= 2 && w.front() == '{' && w.back() == '}') {
      if (h.empty()) return false;
      params.emplace(std::string(w.substr(1, w.size() - 2)), std::string(h));
      return true;
    }
    return w == h;
  };
  if (greedy == want.size()) {
    if (want.size() != have.size()) return std::nullopt;
    for (size_t i = 0; i < want.size(); ++i) {
      if (!match_one(want[i], have[i])) return std::nullopt;
    }
    return params;
  }
  const size_t suffix = want.size() - greedy - 1;
  if (have.size() < greedy + 1 + suffix) return std::nullopt;
  for (size_t i = 0; i < greedy; ++i) {
    if (!match_one(want[i], have[i])) return std::nullopt;
  }
  for (size_t i = 0; i < suffix; ++i) {
    if (!match_one(want[want.size() - 1 - i], have[have.size() - 1 - i])) return std::nullopt;
  }
  std::string joined;
  for (size_t i = greedy; i < have.size() - suffix; ++i) {
    if (have[i].empty()) return std::nullopt;
    if (!joined.empty()) joined += '/';
    joined += have[i];
  }
  std::string_view name = want[greedy].substr(1, want[greedy].size() - 3);
  params.emplace(std::string(name), std::move(joined));
  return params;
}

}  // namespace flowrun
