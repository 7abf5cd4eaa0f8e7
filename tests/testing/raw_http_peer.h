// RawHttpPeer: an HTTP/1.1 server on 127.0.0.1 and a free port, written on raw sockets with one
// thread and poll(), for tests of HTTP clients against peers that misbehave and against many
// connections at once. Its behaviour is chosen by the request path:
//   /ok            answers 200 with a small JSON body at once (keep-alive)
//   /delay/<ms>    answers the same after <ms> milliseconds, without holding a thread
//   /silent        reads the request and never answers
//   /cut           sends headers promising 1,000,000 bytes, 10 of them, then closes
//   /endless       sends headers without a length and then body bytes as fast as the client
//                  reads, forever (the "10 GB" response)
//   /trickle       sends headers promising 100 bytes, then one byte a second
// Anything else gets 404.
//
// Thread-safety: the accessors may be called from any thread while the peer serves.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace flowrun::testing {

class RawHttpPeer {
 public:
  static std::unique_ptr<RawHttpPeer> Start();
  ~RawHttpPeer();
  RawHttpPeer(const RawHttpPeer&) = delete;
  RawHttpPeer& operator=(const RawHttpPeer&) = delete;

  int port() const { return port_; }
  std::string Url(const std::string& path) const;  // http://127.0.0.1:<port><path>

  int requests() const { return requests_; }
  int connections() const { return connections_; }
  // The most requests that were read and waiting for their answer at one moment.
  int most_pending() const { return most_pending_; }

 private:
  RawHttpPeer() = default;
  void Serve();

  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> most_pending_{0};
};

}  // namespace flowrun::testing
