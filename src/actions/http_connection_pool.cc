#include "actions/http_connection_pool.h"

namespace flowrun {

std::string HttpOrigin::Key() const {
  bool ipv6 = host.find(':') != std::string::npos;
  return scheme + "://" + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::unique_ptr<httplib::Client> HttpConnectionPool::Acquire(const HttpOrigin& origin) {
  std::string key = origin.Key();
  {
    std::lock_guard lock(mu_);
    auto it = idle_.find(key);
    if (it != idle_.end() && !it->second.empty()) {
      std::unique_ptr<httplib::Client> client = std::move(it->second.back());
      it->second.pop_back();
      return client;
    }
  }
  auto client = std::make_unique<httplib::Client>(key);
  client->set_keep_alive(settings_.keep_alive);
  // Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm holds the
  // second one back until the peer's delayed ACK, adding tens of milliseconds per request.
  client->set_tcp_nodelay(true);
  // Redirects are followed by the http action itself, so that every hop is checked against the
  // allowed hosts and counted against the limit.
  client->set_follow_location(false);
  // The action encodes the path and query itself; httplib would re-encode '+' and ','.
  client->set_url_encode(false);
  client->set_decompress(true);
  if (origin.scheme == "https") {
    client->enable_server_certificate_verification(true);
    if (!settings_.ca_file.empty()) client->set_ca_cert_path(settings_.ca_file);
  }
  return client;
}

void HttpConnectionPool::Release(const HttpOrigin& origin,
                                 std::unique_ptr<httplib::Client> client) {
  if (!settings_.keep_alive) return;
  std::lock_guard lock(mu_);
  auto& idle = idle_[origin.Key()];
  if (idle.size() < max_idle_per_origin_) idle.push_back(std::move(client));
}

size_t HttpConnectionPool::IdleCount() const {
  std::lock_guard lock(mu_);
  size_t count = 0;
  for (const auto& [key, clients] : idle_) count += clients.size();
  return count;
}

}  // namespace flowrun
