#include "testing/thread_per_connection_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include "testing/free_port.h"

namespace flowrun::testing {

ThreadPerConnectionServer::ThreadPerConnectionServer(std::function<void(int fd)> serve)
    : serve_(std::move(serve)) {
  listener_ = ListenOnLoopback(64, &port_);
  acceptor_ = std::thread([this] {
    for (;;) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      ++connections_;
      std::lock_guard lock(mu_);
      threads_.emplace_back([this, fd] { serve_(fd); });
    }
  });
}

ThreadPerConnectionServer::~ThreadPerConnectionServer() {
  shutdown(listener_, SHUT_RDWR);
  close(listener_);
  acceptor_.join();
  std::lock_guard lock(mu_);
  for (std::thread& thread : threads_) thread.join();
}

}  // namespace flowrun::testing
