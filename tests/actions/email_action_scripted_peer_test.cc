// The email action against scripted SMTP peers on loopback (a thread per connection replays
// what each test scripts): kept connections, refusals, hostile and silent servers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "actions/email_action.h"
#include "actions/mime_message.h"

namespace flowrun {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// One accepted connection, as the scripted server sees it.
class ScriptedConnection {
 public:
  explicit ScriptedConnection(int fd) : fd_(fd) {}

  void Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  // The next line without CRLF; nullopt when the client closed the connection.
  std::optional<std::string> ReadLine() {
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
  // The DATA payload as received, up to and with its final "\r\n.\r\n"; nullopt at end of stream.
  std::optional<std::string> ReadData() {
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
  // True when the client sends nothing more for `ms` (it waits for a reply).
  bool QuietFor(int ms) {
    if (!buffer_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, ms) == 0;
  }
  // True when the client closes the connection within `ms` without sending anything more.
  bool ClosesSilently(int ms) {
    if (!buffer_.empty()) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) != 1) return false;
    return !Fill();
  }
  const std::string& received() const { return received_; }

 private:
  bool Fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    received_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
  std::string received_;
};

using Script = std::function<void(ScriptedConnection&)>;

// Listens on loopback; connection i runs scripts[i] (the last script for any later one).
class ScriptedSmtpServer {
 public:
  explicit ScriptedSmtpServer(std::vector<Script> scripts) : scripts_(std::move(scripts)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    socklen_t length = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~ScriptedSmtpServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (std::thread& t : threads_) t.join();
    for (int fd : fds_) ::close(fd);
  }

  int accepted() const { return accepted_; }
  std::string Url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  // Messages accepted by AcceptMessages, as received.
  std::vector<std::string> Messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  void AddMessage(std::string data) {
    std::lock_guard lock(mu_);
    messages_.push_back(std::move(data));
  }

 private:
  void AcceptLoop() {
    for (;;) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int index = accepted_++;
      const Script& script = scripts_[std::min<size_t>(index, scripts_.size() - 1)];
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      threads_.emplace_back([fd, &script] {
        ScriptedConnection connection(fd);
        script(connection);
        ::shutdown(fd, SHUT_RDWR);
      });
    }
  }

  const std::vector<Script> scripts_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<int> fds_;               // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;   // GUARDED_BY(mu_)
  std::vector<std::string> messages_;  // GUARDED_BY(mu_)
};

constexpr const char* kPipeliningEhlo =
    "250-scripted.test\r\n250-SIZE 1000000\r\n250-pipelining\r\n250 8BITMIME\r\n";
constexpr const char* kPlainEhlo = "250-scripted.test\r\n250 8BITMIME\r\n";

// Greets, expects EHLO and answers it with `ehlo_reply`.
void Hello(ScriptedConnection& c, const std::string& ehlo_reply) {
  c.Send("220 scripted.test ESMTP\r\n");
  std::optional<std::string> ehlo = c.ReadLine();
  ASSERT_TRUE(ehlo.has_value());
  EXPECT_EQ(ehlo->rfind("EHLO ", 0), 0u) << *ehlo;
  c.Send(ehlo_reply);
}

// Answers commands one line at a time, accepting every message into `server`, until QUIT or the
// end of the stream.
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

ActionRequest Request(const std::string& key) {
  ActionRequest request;
  request.run_id = key.substr(0, key.find('/'));
  request.step_key = key.substr(key.find('/') + 1);
  request.idempotency_key = key;
  request.attempt = 1;
  request.arguments = {{"to", {"ada@example.com", "bob@example.com"}},
                       {"subject", "Receipt"},
                       {"text", "Thanks\n.\nbye"}};
  return request;
}

EmailActionOptions OptionsFor(const ScriptedSmtpServer& server, StartTls starttls) {
  EmailActionOptions options;
  options.smtp = SmtpConfig{server.Url(), "ops@example.com", starttls, "", ""};
  options.timeout = std::chrono::seconds(5);
  return options;
}

// Answers MAIL FROM and the two RCPT TO with 250, then DATA with 354, and keeps the message.
void AcceptOneMessage(ScriptedConnection& c, ScriptedSmtpServer& server) {
  for (int i = 0; i < 3; ++i) {
    c.ReadLine();
    c.Send("250 OK\r\n");
  }
  c.ReadLine();
  c.Send("354 go ahead\r\n");
  if (std::optional<std::string> data = c.ReadData()) server.AddMessage(*data);
  c.Send("250 queued\r\n");
}

TEST(EmailActionScriptedPeerTest, MessagesShareOneKeptConnection) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    c.Send("220 scripted.test ESMTP\r\n");
    c.ReadLine();
    // STARTTLS is offered, but starttls is off: the action goes on without it.
    c.Send("250-scripted.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
    AcceptMessages(c, server);
  }});
  EmailAction action(OptionsFor(server, StartTls::kOff));
  for (const char* key : {"run-1/receipt", "run-2/receipt", "run-3/receipt"}) {
    StatusOr<Json> sent = action.Execute(Request(key));
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  EXPECT_EQ(server.accepted(), 1);
  std::vector<std::string> messages = server.Messages();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_NE(messages[1].find("Message-ID: " + MessageIdFor("run-2/receipt") + "\r\n"),
            std::string::npos);
  EXPECT_EQ(messages[1].substr(messages[1].size() - 5), "\r\n.\r\n");
}

TEST(EmailActionScriptedPeerTest, AKeptConnectionThatDiesUnansweredIsReplacedOnce) {
  // The first connection takes one message, then closes on the next command without a word.
  ScriptedSmtpServer server({
      [&](ScriptedConnection& c) {
        Hello(c, kPlainEhlo);
        AcceptOneMessage(c, server);
        c.ReadLine();  // the next MAIL FROM: closes
      },
      [&](ScriptedConnection& c) {
        Hello(c, kPlainEhlo);
        AcceptMessages(c, server);
      },
  });
  EmailAction action(OptionsFor(server, StartTls::kAuto));
  StatusOr<Json> first = action.Execute(Request("run-1/receipt"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  StatusOr<Json> second = action.Execute(Request("run-2/receipt"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.Messages().size(), 2u);
}

TEST(EmailActionScriptedPeerTest, AKeptConnectionTheServerGaveUpOnIsNotUsed) {
  // The server says 421 on its own while the connection is idle and closes it: the next message
  // opens a new connection instead of reading that as its reply.
  std::atomic<bool> sent_once{false};
  ScriptedSmtpServer server({
      [&](ScriptedConnection& c) {
        Hello(c, kPipeliningEhlo);
        AcceptOneMessage(c, server);
        c.Send("421 4.4.2 Timeout exceeded\r\n");
        sent_once = true;
      },
      [&](ScriptedConnection& c) {
        Hello(c, kPipeliningEhlo);
        AcceptMessages(c, server);
      },
  });
  EmailAction action(OptionsFor(server, StartTls::kAuto));
  ASSERT_TRUE(action.Execute(Request("run-1/receipt")).ok());
  while (!sent_once) std::this_thread::sleep_for(milliseconds(5));
  std::this_thread::sleep_for(milliseconds(50));
  StatusOr<Json> second = action.Execute(Request("run-2/receipt"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.Messages().size(), 2u);
}

TEST(EmailActionScriptedPeerTest, ARefusedRecipientRefusesTheMessageAndIsQuoted) {
  ScriptedSmtpServer server({
      [&](ScriptedConnection& c) {
        Hello(c, kPipeliningEhlo);
        c.ReadLine();
        c.Send("250 OK\r\n");
        c.ReadLine();
        c.Send("550 5.1.1 No such user\r\n");
        // Whatever the client says next (RSET, QUIT), no message is taken on this connection.
        while (std::optional<std::string> line = c.ReadLine()) {
          EXPECT_NE(line->rfind("DATA", 0), 0u);
          c.Send(line->rfind("QUIT", 0) == 0 ? "221 bye\r\n" : "250 OK\r\n");
        }
      },
      [&](ScriptedConnection& c) {
        Hello(c, kPipeliningEhlo);
        AcceptMessages(c, server);
      },
  });
  EmailAction action(OptionsFor(server, StartTls::kAuto));
  StatusOr<Json> refused = action.Execute(Request("run-1/receipt"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("SMTP " + server.Url() +
                                            ": server replied \"550 5.1.1 No such user\""),
            std::string::npos)
      << refused.status().message();
  ASSERT_TRUE(action.Execute(Request("run-2/receipt")).ok());
  EXPECT_EQ(server.Messages().size(), 1u);
}

TEST(EmailActionScriptedPeerTest, RepliesDecideTheRetry) {
  struct Case {
    std::string mail_reply;   // to MAIL FROM
    std::string final_reply;  // to the message, when MAIL was accepted
    StatusCode code;
    std::string quoted;
  };
  std::vector<Case> cases = {
      {"421 4.3.2 Shutting down", "", StatusCode::kUnavailable, "421 4.3.2"},
      {"553 5.7.1 Sender refused", "", StatusCode::kFailedPrecondition, "553 5.7.1"},
      {"250 OK", "452 4.3.1 Out of memory", StatusCode::kUnavailable, "452 4.3.1"},
      {"250 OK", "554-5.7.1 Spam\r\n554 5.7.1 Go away", StatusCode::kFailedPrecondition,
       "554 5.7.1 Go away"},
  };
  for (const Case& k : cases) {
    ScriptedSmtpServer server({[&](ScriptedConnection& c) {
      Hello(c, kPlainEhlo);
      c.ReadLine();
      c.Send(k.mail_reply + "\r\n");
      while (std::optional<std::string> line = c.ReadLine()) {
        if (*line == "DATA") {
          c.Send("354 go ahead\r\n");
          c.ReadData();
          c.Send(k.final_reply + "\r\n");
        } else if (line->rfind("QUIT", 0) == 0) {
          c.Send("221 bye\r\n");
          return;
        } else {
          c.Send("250 OK\r\n");
        }
      }
    }});
    EmailAction action(OptionsFor(server, StartTls::kAuto));
    StatusOr<Json> sent = action.Execute(Request("run-1/receipt"));
    ASSERT_FALSE(sent.ok()) << k.quoted;
    EXPECT_EQ(sent.status().code(), k.code) << sent.status().ToString();
    EXPECT_NE(sent.status().message().find(k.quoted), std::string::npos) << sent.status().message();
  }
}

TEST(EmailActionScriptedPeerTest, HostileGreetingsFailBoundedlyAndRetryably) {
  std::vector<Script> scripts = {
      [](ScriptedConnection& c) { c.Send("hello there\r\n"); },
      [](ScriptedConnection& c) { c.Send("2x0 nope\r\n"); },
      // One endless line, then endlessly many lines.
      [](ScriptedConnection& c) { c.Send("220 " + std::string(1 << 20, 'x')); },
      [](ScriptedConnection& c) {
        std::string lines;
        for (int i = 0; i < 10000; ++i) lines += "220-more\r\n";
        c.Send(lines);
      },
      [](ScriptedConnection& c) { c.Send("220 ok\r\n"); },  // then closes
  };
  for (size_t i = 0; i < scripts.size(); ++i) {
    ScriptedSmtpServer server({scripts[i]});
    EmailActionOptions options = OptionsFor(server, StartTls::kAuto);
    options.timeout = milliseconds(1500);
    EmailAction action(options);
    auto start = steady_clock::now();
    StatusOr<Json> sent = action.Execute(Request("run-1/receipt"));
    ASSERT_FALSE(sent.ok()) << "script " << i;
    EXPECT_TRUE(sent.status().IsRetryable()) << "script " << i << ": " << sent.status().ToString();
    EXPECT_LT(steady_clock::now() - start, milliseconds(3000)) << "script " << i;
  }
  // A 554 greeting refuses service for good.
  ScriptedSmtpServer refusing({[](ScriptedConnection& c) { c.Send("554 5.3.2 No service\r\n"); }});
  EmailAction action(OptionsFor(refusing, StartTls::kAuto));
  StatusOr<Json> sent = action.Execute(Request("run-1/receipt"));
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.status().message().find("554 5.3.2 No service"), std::string::npos)
      << sent.status().message();
}

TEST(EmailActionScriptedPeerTest, AServerThatClosesMidTransactionIsRetryable) {
  for (bool after_data : {false, true}) {
    ScriptedSmtpServer server({[&](ScriptedConnection& c) {
      Hello(c, kPlainEhlo);
      EXPECT_TRUE(c.ReadLine().has_value());
      if (!after_data) return;  // closes on MAIL FROM
      for (int i = 0; i < 2; ++i) {
        c.Send("250 OK\r\n");
        c.ReadLine();
      }
      c.Send("250 OK\r\n");
      c.ReadLine();
      c.Send("354 go ahead\r\n");
      c.ReadData();  // and closes without a reply
    }});
    EmailAction action(OptionsFor(server, StartTls::kAuto));
    StatusOr<Json> sent = action.Execute(Request("run-1/receipt"));
    ASSERT_FALSE(sent.ok());
    EXPECT_EQ(sent.status().code(), StatusCode::kUnavailable) << sent.status().ToString();
  }
}

TEST(EmailActionScriptedPeerTest, TheStepDeadlineBoundsASilentOrTricklingServer) {
  std::atomic<bool> done{false};
  {
    // Never greets.
    ScriptedSmtpServer server({[&](ScriptedConnection&) {
      while (!done) std::this_thread::sleep_for(milliseconds(10));
    }});
    EmailAction action(OptionsFor(server, StartTls::kAuto));
    ActionRequest request = Request("run-1/receipt");
    request.deadline = SystemClock().Now() + milliseconds(300);
    auto start = steady_clock::now();
    StatusOr<Json> out = action.Execute(request);
    auto took = steady_clock::now() - start;
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().ToString();
    EXPECT_TRUE(out.status().IsRetryable());
    EXPECT_LT(took, milliseconds(1000));
    done = true;
  }
  done = false;
  {
    // Greets, then trickles a reply to the message one byte at a time, never finishing it.
    ScriptedSmtpServer server({[&](ScriptedConnection& c) {
      Hello(c, kPlainEhlo);
      for (int i = 0; i < 3; ++i) {
        c.ReadLine();
        c.Send("250 OK\r\n");
      }
      c.ReadLine();
      c.Send("354 go ahead\r\n");
      c.ReadData();
      while (!done) {
        c.Send("2");
        std::this_thread::sleep_for(milliseconds(50));
      }
    }});
    EmailAction action(OptionsFor(server, StartTls::kAuto));
    ActionRequest request = Request("run-1/receipt");
    request.deadline = SystemClock().Now() + milliseconds(400);
    auto start = steady_clock::now();
    StatusOr<Json> out = action.Execute(request);
    auto took = steady_clock::now() - start;
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().ToString();
    EXPECT_LT(took, milliseconds(1000));
    done = true;
  }
}

}  // namespace
}  // namespace flowrun
