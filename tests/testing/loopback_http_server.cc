#include "testing/loopback_http_server.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "common/cpp_httplib.h"
#include "testing/wait_until.h"

namespace flowrun::testing {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string RecordedRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

std::unique_ptr<LoopbackHttpServer> LoopbackHttpServer::Start() {
  return std::unique_ptr<LoopbackHttpServer>(
      new LoopbackHttpServer(std::make_unique<httplib::Server>(), false));
}

std::unique_ptr<LoopbackHttpServer> LoopbackHttpServer::StartTls(const std::string& cert_file,
                                                                 const std::string& key_file) {
  auto server = std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str());
  if (!server->is_valid()) {
    std::fprintf(stderr, "LoopbackHttpServer: cannot load %s / %s\n", cert_file.c_str(),
                 key_file.c_str());
    std::abort();
  }
  return std::unique_ptr<LoopbackHttpServer>(new LoopbackHttpServer(std::move(server), true));
}

LoopbackHttpServer::LoopbackHttpServer(std::unique_ptr<httplib::Server> server, bool tls)
    : server_(std::move(server)), tls_(tls) {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    RecordedRequest recorded;
    recorded.method = req.method;
    recorded.path = req.path;
    size_t q = req.target.find('?');
    if (q != std::string::npos) recorded.query = req.target.substr(q + 1);
    for (const auto& [name, value] : req.headers) recorded.headers.emplace(Lower(name), value);
    recorded.body = req.body;
    recorded.client_port = req.remote_port;
    HttpReply reply = Dispatch(recorded);
    if (reply.delay.count() > 0) std::this_thread::sleep_for(reply.delay);
    res.status = reply.status;
    for (const auto& [name, value] : reply.headers) res.set_header(name, value);
    res.set_content(reply.body, reply.content_type);
  };
  // Every path, line breaks included ("." would not match a decoded %0A).
  const std::string any = R"([\s\S]*)";
  server_->Get(any, handler);
  server_->Post(any, handler);
  server_->Put(any, handler);
  server_->Patch(any, handler);
  server_->Delete(any, handler);
  server_->Options(any, handler);
  // Stopping waits for idle keep-alive connections to time out; keep that wait short.
  server_->set_keep_alive_timeout(1);
  server_->set_tcp_nodelay(true);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    std::fprintf(stderr, "LoopbackHttpServer: cannot bind a loopback port\n");
    std::abort();
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Server::stop does nothing until the accept loop runs, so a server stopped right after start
  // would never return from listen_after_bind.
  if (!WaitUntil([this] { return server_->is_running(); })) {
    std::fprintf(stderr, "LoopbackHttpServer: the accept loop did not start within 30 s\n");
    std::abort();
  }
}

LoopbackHttpServer::~LoopbackHttpServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string LoopbackHttpServer::Url(const std::string& path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
}

std::string LoopbackHttpServer::LocalhostUrl(const std::string& path) const {
  return std::string(tls_ ? "https" : "http") + "://localhost:" + std::to_string(port_) + path;
}

void LoopbackHttpServer::Script(const std::string& path, std::vector<HttpReply> replies) {
  std::lock_guard lock(mu_);
  scripts_[path] = {std::move(replies), 0};
}

void LoopbackHttpServer::Handle(const std::string& path,
                                std::function<HttpReply(const RecordedRequest&)> handler) {
  std::lock_guard lock(mu_);
  handlers_[path] = std::move(handler);
}

HttpReply LoopbackHttpServer::Dispatch(const RecordedRequest& request) {
  std::function<HttpReply(const RecordedRequest&)> handler;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    auto script = scripts_.find(request.path);
    if (script != scripts_.end() && !script->second.first.empty()) {
      auto& [replies, next] = script->second;
      HttpReply reply = replies[std::min(next, replies.size() - 1)];
      ++next;
      return reply;
    }
    auto it = handlers_.find(request.path);
    if (it != handlers_.end()) handler = it->second;
  }
  if (handler) return handler(request);
  return HttpReply{404, "no route for " + request.path};
}

std::vector<RecordedRequest> LoopbackHttpServer::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<RecordedRequest> LoopbackHttpServer::Requests(const std::string& path) const {
  std::lock_guard lock(mu_);
  std::vector<RecordedRequest> out;
  for (const auto& r : requests_) {
    if (r.path == path) out.push_back(r);
  }
  return out;
}

}  // namespace flowrun::testing
