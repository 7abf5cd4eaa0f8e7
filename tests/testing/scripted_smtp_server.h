// ScriptedSmtpServer: a real SMTP peer on loopback whose every connection runs a script the test
// writes (a thread per connection reads and writes the socket as told), for the cases a real
// server will not produce: kept connections closed at chosen moments, refusals, silence,
// trickling, endless or malformed replies.
//
// Connection i runs scripts[i] (the last script for any later one). The destructor stops the
// scripts: it sets stopping(), shuts every connection down and joins their threads, so a script
// that waits should loop on `!c.stopping()` or on a read.
//
// Thread-safety: the server's accessors from any thread; a connection belongs to its script.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace flowrun::testing {

// One accepted connection, as the scripted server sees it.
class ScriptedConnection {
 public:
  ScriptedConnection(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}

  void Send(std::string_view data);
  // Sends `data` one byte at a time, `gap_ms` apart, until done or the server stops.
  void Trickle(std::string_view data, int gap_ms);
  // The next line without CRLF; nullopt when the client closed the connection.
  std::optional<std::string> ReadLine();
  // The DATA payload as received, up to and with its final "\r\n.\r\n"; nullopt at end of stream.
  std::optional<std::string> ReadData();
  // True when the client sends nothing more for `ms` (it waits for a reply).
  bool QuietFor(int ms);
  // True when the client closes the connection within `ms` without sending anything more.
  bool ClosesSilently(int ms);
  // Waits until the server stops (or the client closes), reading and dropping what comes.
  void HoldUntilStopped();
  bool stopping() const { return stopping_.load(); }
  const std::string& received() const { return received_; }

 private:
  bool Fill();

  int fd_;
  const std::atomic<bool>& stopping_;
  std::string buffer_;
  std::string received_;
};

using SmtpScript = std::function<void(ScriptedConnection&)>;

class ScriptedSmtpServer {
 public:
  explicit ScriptedSmtpServer(std::vector<SmtpScript> scripts);
  ~ScriptedSmtpServer();
  ScriptedSmtpServer(const ScriptedSmtpServer&) = delete;
  ScriptedSmtpServer& operator=(const ScriptedSmtpServer&) = delete;

  int accepted() const { return accepted_; }
  int port() const { return port_; }
  std::string Url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  // Messages scripts recorded with AddMessage (AcceptMessages does), in order.
  std::vector<std::string> Messages() const;
  void AddMessage(std::string data);

 private:
  void AcceptLoop();

  const std::vector<SmtpScript> scripts_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<int> fds_;               // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;   // GUARDED_BY(mu_)
  std::vector<std::string> messages_;  // GUARDED_BY(mu_)
};

// Replies every script starts with: a greeting, EHLO answered with `ehlo_reply`.
inline constexpr const char* kPipeliningEhlo =
    "250-scripted.test\r\n250-SIZE 1000000\r\n250-pipelining\r\n250 8BITMIME\r\n";
inline constexpr const char* kPlainEhlo = "250-scripted.test\r\n250 8BITMIME\r\n";
// Greets, expects EHLO and answers it with `ehlo_reply`.
void Hello(ScriptedConnection& c, const std::string& ehlo_reply);
// Answers commands one line at a time, accepting every message into `server`, until QUIT or the
// end of the stream.
void AcceptMessages(ScriptedConnection& c, ScriptedSmtpServer& server);

}  // namespace flowrun::testing
