#include "testing/scripted_smtp_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "testing/free_port.h"

namespace flowrun::testing {

void ScriptedConnection::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void ScriptedConnection::Trickle(std::string_view data, int gap_ms) {
  for (char c : data) {
    if (stopping()) return;
    if (::send(fd_, &c, 1, MSG_NOSIGNAL) != 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
}

std::optional<std::string> ScriptedConnection::ReadLine() {
  for (;;) {
    size_t end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      std::string line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return line;
    }
    if (!Fill()) return std::nullopt;
  }
}

std::optional<std::string> ScriptedConnection::ReadData() {
  for (;;) {
    size_t end = buffer_.find("\r\n.\r\n");
    if (buffer_.rfind(".\r\n", 0) == 0) end = 0;  // an empty message
    if (end != std::string::npos) {
      size_t length = end == 0 && buffer_.rfind(".\r\n", 0) == 0 ? 3 : end + 5;
      std::string data = buffer_.substr(0, length);
      buffer_.erase(0, length);
      return data;
    }
    if (!Fill()) return std::nullopt;
  }
}

bool ScriptedConnection::QuietFor(int ms) {
  if (!buffer_.empty()) return false;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, ms) == 0;
}

bool ScriptedConnection::ClosesSilently(int ms) {
  if (!buffer_.empty()) return false;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, ms) != 1) return false;
  return !Fill();
}

void ScriptedConnection::HoldUntilStopped() {
  while (!stopping()) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) == 1 && !Fill()) return;
  }
}

bool ScriptedConnection::Fill() {
  char chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  received_.append(chunk, static_cast<size_t>(n));
  return true;
}

ScriptedSmtpServer::ScriptedSmtpServer(std::vector<SmtpScript> scripts)
    : scripts_(std::move(scripts)) {
  listen_fd_ = ListenOnLoopback(64, &port_);
  EXPECT_GE(listen_fd_, 0);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

ScriptedSmtpServer::~ScriptedSmtpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  std::lock_guard lock(mu_);
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  for (std::thread& t : threads_) t.join();
  for (int fd : fds_) ::close(fd);
}

std::vector<std::string> ScriptedSmtpServer::Messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

void ScriptedSmtpServer::AddMessage(std::string data) {
  std::lock_guard lock(mu_);
  messages_.push_back(std::move(data));
}

void ScriptedSmtpServer::AcceptLoop() {
  for (;;) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    int index = accepted_++;
    const SmtpScript& script = scripts_[std::min<size_t>(index, scripts_.size() - 1)];
    std::lock_guard lock(mu_);
    fds_.push_back(fd);
    threads_.emplace_back([this, fd, &script] {
      ScriptedConnection connection(fd, stopping_);
      script(connection);
      ::shutdown(fd, SHUT_RDWR);
    });
  }
}

void Hello(ScriptedConnection& c, const std::string& ehlo_reply) {
  c.Send("220 scripted.test ESMTP\r\n");
  std::optional<std::string> ehlo = c.ReadLine();
  ASSERT_TRUE(ehlo.has_value());
  EXPECT_EQ(ehlo->rfind("EHLO ", 0), 0u) << *ehlo;
  c.Send(ehlo_reply);
}

void AcceptMessages(ScriptedConnection& c, ScriptedSmtpServer& server) {
  while (std::optional<std::string> line = c.ReadLine()) {
    if (line->rfind("DATA", 0) == 0) {
      c.Send("354 go ahead\r\n");
      std::optional<std::string> data = c.ReadData();
      if (!data) return;
      server.AddMessage(*data);
      c.Send("250 2.0.0 queued\r\n");
    } else if (line->rfind("QUIT", 0) == 0) {
      c.Send("221 bye\r\n");
      return;
    } else {
      c.Send("250 OK\r\n");
    }
  }
}

}  // namespace flowrun::testing
