// LoopbackHttpServer: a real HTTP (or HTTPS) server on 127.0.0.1 and a free port, built on
// cpp-httplib's server, for tests of HTTP clients. Each path plays a script of replies in order
// (the last one repeats), or runs a handler; every request is recorded, with the client port so a
// test can tell whether a connection was reused.
//
// Thread-safety: Script, Handle and the accessors may be called from the test thread while the
// server's threads serve requests.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace flowrun::testing {

struct RecordedRequest {
  std::string method;
  std::string path;                                 // without the query
  std::string query;                                // raw, without '?'
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;
  int client_port = 0;

  std::string Header(const std::string& lower_name) const;
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // wait this long before answering
};

class LoopbackHttpServer {
 public:
  // Starts a plain HTTP server, or an HTTPS one with the given PEM certificate and key.
  static std::unique_ptr<LoopbackHttpServer> Start();
  static std::unique_ptr<LoopbackHttpServer> StartTls(const std::string& cert_file,
                                                      const std::string& key_file);
  ~LoopbackHttpServer();
  LoopbackHttpServer(const LoopbackHttpServer&) = delete;
  LoopbackHttpServer& operator=(const LoopbackHttpServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>" (https for TLS servers).
  std::string Url(const std::string& path) const;
  // The same with "localhost" as the host, for certificate name checks.
  std::string LocalhostUrl(const std::string& path) const;

  // Requests to `path` get `replies` in order; once they run out the last one repeats.
  void Script(const std::string& path, std::vector<HttpReply> replies);
  // Requests to `path` get whatever `handler` returns.
  void Handle(const std::string& path, std::function<HttpReply(const RecordedRequest&)> handler);

  std::vector<RecordedRequest> Requests() const;
  std::vector<RecordedRequest> Requests(const std::string& path) const;

 private:
  explicit LoopbackHttpServer(std::unique_ptr<httplib::Server> server, bool tls);
  HttpReply Dispatch(const RecordedRequest& request);

  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::vector<HttpReply>, size_t>> scripts_;  // GUARDED_BY(mu_)
  std::map<std::string, std::function<HttpReply(const RecordedRequest&)>>
      handlers_;                           // GUARDED_BY(mu_)
  std::vector<RecordedRequest> requests_;  // GUARDED_BY(mu_)
};

}  // namespace flowrun::testing
