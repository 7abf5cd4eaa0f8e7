// HttpConnectionPool: idle cpp-httplib clients kept per origin (scheme, host and port), so that
// keep-alive connections are reused across http steps instead of paying a TCP and TLS handshake
// per request.
//
// A caller checks a client out with Acquire, uses it alone, and hands it back with Release only
// when the exchange completed cleanly; a client that failed mid-exchange is simply dropped, so a
// connection in an unknown state is never reused.
//
// Thread-safety: Acquire and Release may be called from many threads at once.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actions/cpp_httplib.h"

namespace flowrun {

struct HttpOrigin {
  std::string scheme;  // http or https
  std::string host;    // as in the URL; IPv6 literals without brackets
  int port = 0;

  std::string Key() const;
};

struct HttpClientSettings {
  std::string ca_file;  // empty: the system CA bundle
  bool keep_alive = true;
};

class HttpConnectionPool {
 public:
  // `max_idle_per_origin` bounds the idle clients kept for one origin. Default: 8.
  explicit HttpConnectionPool(HttpClientSettings settings, size_t max_idle_per_origin = 8)
      : settings_(std::move(settings)), max_idle_per_origin_(max_idle_per_origin) {}
  HttpConnectionPool(const HttpConnectionPool&) = delete;
  HttpConnectionPool& operator=(const HttpConnectionPool&) = delete;

  // An idle client for `origin`, or a new one (which connects on first use).
  std::unique_ptr<httplib::Client> Acquire(const HttpOrigin& origin);
  // Returns a client whose last exchange completed; it is closed instead when keep-alive is off
  // or the origin already has enough idle clients.
  void Release(const HttpOrigin& origin, std::unique_ptr<httplib::Client> client);

  size_t IdleCount() const;

 private:
  const HttpClientSettings settings_;
  const size_t max_idle_per_origin_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_;  // GUARDED_BY(mu_)
};

}  // namespace flowrun
