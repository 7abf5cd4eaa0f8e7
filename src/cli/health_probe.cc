#include "cli/health_probe.h"

#include "common/cpp_httplib.h"

namespace flowrun::cli {

HealthProbe::HealthProbe(const std::string& host, int port) : port_(port) {
  if (host.empty() || host == "0.0.0.0") {
    host_ = "127.0.0.1";
  } else if (host == "::" || host == "[::]") {
    host_ = "::1";
  } else if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host_ = host.substr(1, host.size() - 2);
  } else {
    host_ = host;
  }
}

Status HealthProbe::Probe(std::chrono::milliseconds timeout) const {
  httplib::Client client(host_, port_);
  client.set_connection_timeout(timeout);
  client.set_read_timeout(timeout);
  client.set_write_timeout(timeout);
  client.set_keep_alive(false);
  httplib::Result result = client.Get("/healthz");
  if (result) return OkStatus();
  return UnavailableError("GET /healthz on " + host_ + ":" + std::to_string(port_) +
                          " got no answer within " + std::to_string(timeout.count()) +
                          " ms: " + httplib::to_string(result.error()));
}

}  // namespace flowrun::cli
