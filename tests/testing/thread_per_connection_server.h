// ThreadPerConnectionServer: a TCP server on 127.0.0.1 and a port the kernel picks, for tests
// that script a peer byte by byte: each accepted connection is handed to `serve` on a thread of
// its own, which owns the fd (and closes it). The destructor stops accepting and joins every
// connection's thread, so `serve` must end once its peer closes.
//
// Thread-safety: port() and connections() from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flowrun::testing {

class ThreadPerConnectionServer {
 public:
  explicit ThreadPerConnectionServer(std::function<void(int fd)> serve);
  ~ThreadPerConnectionServer();
  ThreadPerConnectionServer(const ThreadPerConnectionServer&) = delete;
  ThreadPerConnectionServer& operator=(const ThreadPerConnectionServer&) = delete;

  int port() const { return port_; }
  int connections() const { return connections_; }  // accepted so far

 private:
  const std::function<void(int fd)> serve_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

}  // namespace flowrun::testing
