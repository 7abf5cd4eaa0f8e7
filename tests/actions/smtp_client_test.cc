// The plain SMTP client (smtp_client.h), and the email action on its plain path, against a
// scripted SMTP server on loopback: a thread per connection replays what each test scripts.
#include "actions/smtp_client.h"

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
  SmtpEndpoint Endpoint() const { return {"127.0.0.1", std::to_string(port_), "client.test"}; }
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

SteadyTime In(milliseconds ms) { return steady_clock::now() + ms; }

StatusOr<std::unique_ptr<SmtpClient>> Open(const ScriptedSmtpServer& server,
                                           milliseconds deadline = milliseconds(5000)) {
  return SmtpClient::Open(server.Endpoint(), std::chrono::seconds(5), In(deadline));
}

const std::string kMessage = "Subject: x\r\n\r\nhello\r\n";

TEST(SmtpDataPayloadTest, StuffsDotsAndEndsWithCrLfDotCrLf) {
  EXPECT_EQ(SmtpDataPayload("Subject: x\r\n\r\n.leading\r\n..two\r\nmid.dle\r\n.\r\nbare\nlf\rcr"
                            "\r\n\r\n.end"),
            "Subject: x\r\n\r\n..leading\r\n...two\r\nmid.dle\r\n..\r\nbare\r\nlf\r\ncr\r\n\r\n"
            "..end\r\n.\r\n");
  EXPECT_EQ(SmtpDataPayload("a\r\n"), "a\r\n.\r\n");
  EXPECT_EQ(SmtpDataPayload(".\r\n"), "..\r\n.\r\n");
}

TEST(ParsePlainSmtpUrlTest, TakesOnlyPlainSmtpUrls) {
  std::optional<SmtpEndpoint> e = ParsePlainSmtpUrl("smtp://mail.internal:2525");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->host, "mail.internal");
  EXPECT_EQ(e->port, "2525");
  EXPECT_FALSE(e->helo_name.empty());
  EXPECT_EQ(ParsePlainSmtpUrl("SMTP://relay/")->port, "25");
  EXPECT_EQ(ParsePlainSmtpUrl("smtp://[::1]:25")->host, "::1");
  for (const char* url : {"smtps://relay:465", "smtp://user:pw@relay", "smtp://relay/example.org",
                          "smtp://relay:0", "smtp://relay:70000", "smtp://relay:x", "smtp://",
                          "smtp://:25", "http://relay", "smtp://[::1"}) {
    EXPECT_FALSE(ParsePlainSmtpUrl(url).has_value()) << url;
  }
}

TEST(SmtpClientTest, PipelinesTheEnvelopeAndSendsTheExactBytes) {
  std::string payload = SmtpDataPayload("Subject: dots\r\n\r\n.one\r\n..two\r\nlast");
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPipeliningEhlo);
    // Nothing is answered before DATA arrives: a client waiting for each reply would stall here.
    std::vector<std::string> lines;
    for (int i = 0; i < 4; ++i) {
      std::optional<std::string> line = c.ReadLine();
      ASSERT_TRUE(line.has_value());
      lines.push_back(*line);
    }
    EXPECT_EQ(lines,
              (std::vector<std::string>{"MAIL FROM:<ops@example.com>", "RCPT TO:<ada@example.com>",
                                        "RCPT TO:<bob@example.com>", "DATA"}));
    c.Send("250 2.1.0 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n354 go ahead\r\n");
    std::optional<std::string> data = c.ReadData();
    ASSERT_TRUE(data.has_value());
    EXPECT_EQ(*data, "Subject: dots\r\n\r\n..one\r\n...two\r\nlast\r\n.\r\n");
    c.Send("250 2.0.0 queued\r\n");
    EXPECT_EQ(c.ReadLine(), "QUIT");
  }});
  StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_TRUE((*client)->offers_pipelining());
  EXPECT_FALSE((*client)->offers_starttls());
  Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com", "bob@example.com"},
                                    payload, In(milliseconds(5000)));
  EXPECT_TRUE(sent.ok()) << sent.ToString();
  EXPECT_TRUE((*client)->LooksIdle());
}

TEST(SmtpClientTest, WithoutPipeliningSendsOneCommandAtATime) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    c.Send("220-scripted.test ESMTP\r\n220-a greeting\r\n220 on three lines\r\n");
    EXPECT_EQ(c.ReadLine(), "EHLO client.test");
    c.Send(kPlainEhlo);
    for (const char* expected :
         {"MAIL FROM:<ops@example.com>", "RCPT TO:<ada@example.com>", "DATA"}) {
      EXPECT_EQ(c.ReadLine(), expected);
      EXPECT_TRUE(c.QuietFor(100)) << "sent before the reply to " << expected;
      c.Send(std::string(expected) == "DATA" ? "354 go ahead\r\n" : "250-OK\r\n250 fine\r\n");
    }
    EXPECT_EQ(c.ReadData(), "Subject: x\r\n\r\nhello\r\n.\r\n");
    c.Send("250 queued\r\n");
  }});
  StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_FALSE((*client)->offers_pipelining());
  Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com"},
                                    SmtpDataPayload(kMessage), In(milliseconds(5000)));
  EXPECT_TRUE(sent.ok()) << sent.ToString();
}

TEST(SmtpClientTest, FallsBackToHeloWhenEhloIsRefused) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    c.Send("220 old.test SMTP\r\n");
    EXPECT_EQ(c.ReadLine(), "EHLO client.test");
    c.Send("502 5.5.2 command not recognized\r\n");
    EXPECT_EQ(c.ReadLine(), "HELO client.test");
    c.Send("250 old.test\r\n");
    AcceptMessages(c, server);
  }});
  StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_FALSE((*client)->offers_pipelining());
  EXPECT_TRUE((*client)
                  ->SendMail("ops@example.com", {"ada@example.com"}, SmtpDataPayload(kMessage),
                             In(milliseconds(5000)))
                  .ok());
  client->reset();
  EXPECT_EQ(server.Messages(), std::vector<std::string>{SmtpDataPayload(kMessage)});
}

TEST(SmtpClientTest, ARefusedRecipientRefusesTheMessageAndNothingIsSent) {
  // One recipient refused and one accepted: the server waits for the message after DATA, and the
  // client drops the connection rather than send it to only some recipients.
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPipeliningEhlo);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.ReadLine().has_value());
    c.Send("250 OK\r\n250 OK\r\n550 5.1.1 No such user\r\n354 go ahead\r\n");
    EXPECT_TRUE(c.ClosesSilently(5000)) << c.received();
  }});
  StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com", "nobody@example.com"},
                                    SmtpDataPayload(kMessage), In(milliseconds(5000)));
  EXPECT_EQ(sent.code(), StatusCode::kFailedPrecondition) << sent.ToString();
  EXPECT_NE(sent.message().find("server replied \"550 5.1.1 No such user\""), std::string::npos)
      << sent.message();
  EXPECT_FALSE((*client)->failed_before_any_reply());
  client->reset();
}

TEST(SmtpClientTest, EveryRecipientRefusedEndsInAKnownStateAndSaysQuit) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPipeliningEhlo);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.ReadLine().has_value());
    c.Send("250 OK\r\n450 4.2.1 Mailbox busy\r\n554 5.5.1 No valid recipients\r\n");
    EXPECT_EQ(c.ReadLine(), "QUIT");
  }});
  StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com"},
                                    SmtpDataPayload(kMessage), In(milliseconds(5000)));
  EXPECT_EQ(sent.code(), StatusCode::kUnavailable) << sent.ToString();
  EXPECT_TRUE(sent.IsRetryable());
  EXPECT_NE(sent.message().find("450 4.2.1 Mailbox busy"), std::string::npos) << sent.message();
}

TEST(SmtpClientTest, ARefusalBeforeTheServerClosesIsQuoted) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPipeliningEhlo);
    for (int i = 0; i < 3; ++i) c.ReadLine();
    c.Send("421 4.3.2 Shutting down\r\n");  // and closes
  }});
  StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com"},
                                    SmtpDataPayload(kMessage), In(milliseconds(5000)));
  EXPECT_EQ(sent.code(), StatusCode::kUnavailable) << sent.ToString();
  EXPECT_NE(sent.message().find("421 4.3.2 Shutting down"), std::string::npos) << sent.message();
}

TEST(SmtpClientTest, RepliesDecideTheRetry) {
  struct Case {
    std::string ehlo;
    std::string mail_reply;   // to MAIL FROM
    std::string final_reply;  // to the message, when MAIL was accepted
    StatusCode code;
    std::string quoted;
  };
  std::vector<Case> cases = {
      {kPlainEhlo, "421 4.3.2 Shutting down", "", StatusCode::kUnavailable, "421 4.3.2"},
      {kPlainEhlo, "553 5.7.1 Sender refused", "", StatusCode::kFailedPrecondition, "553 5.7.1"},
      {kPlainEhlo, "250 OK", "452 4.3.1 Out of memory", StatusCode::kUnavailable, "452 4.3.1"},
      {kPipeliningEhlo, "250 OK", "554-5.7.1 Spam\r\n554 5.7.1 Go away",
       StatusCode::kFailedPrecondition, "554 5.7.1 Go away"},
  };
  for (const Case& k : cases) {
    ScriptedSmtpServer server({[&](ScriptedConnection& c) {
      Hello(c, k.ehlo);
      c.ReadLine();
      c.Send(k.mail_reply + "\r\n");
      if (k.final_reply.empty()) return;
      while (std::optional<std::string> line = c.ReadLine()) {
        if (*line == "DATA") {
          c.Send("354 go ahead\r\n");
          c.ReadData();
          c.Send(k.final_reply + "\r\n");
          return;
        }
        if (line->rfind("RCPT", 0) == 0) c.Send("250 OK\r\n");
      }
    }});
    StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com"},
                                      SmtpDataPayload(kMessage), In(milliseconds(5000)));
    EXPECT_EQ(sent.code(), k.code) << sent.ToString();
    EXPECT_NE(sent.message().find(k.quoted), std::string::npos) << sent.message();
  }
}

TEST(SmtpClientTest, HostileRepliesFailClearlyAndBoundedly) {
  struct Case {
    Script script;
    std::string message;
  };
  std::vector<Case> cases = {
      {[](ScriptedConnection& c) { c.Send("hello there\r\n"); }, "malformed reply"},
      {[](ScriptedConnection& c) { c.Send("2x0 nope\r\n"); }, "malformed reply"},
      {[](ScriptedConnection& c) { c.Send("250-a\r\n251 b\r\n"); }, "malformed reply"},
      {[](ScriptedConnection& c) {
         c.Send("220 fine\r\n");
         c.ReadLine();
         c.Send("250x\r\n");
       },
       "malformed reply"},
      {[](ScriptedConnection& c) { c.Send("554 5.3.2 No service\r\n"); }, "554 5.3.2 No service"},
      // One endless line, then endlessly many lines: both stop at the bounds.
      {[](ScriptedConnection& c) { c.Send("220 " + std::string(1 << 20, 'x')); },
       "longer than 4096 bytes"},
      {[](ScriptedConnection& c) {
         std::string lines;
         for (int i = 0; i < 10000; ++i) lines += "220-more\r\n";
         c.Send(lines);
       },
       "more than 64 lines"},
      {[](ScriptedConnection& c) { c.Send("220 ok\r\n"); }, "closed the connection"},
  };
  for (const Case& k : cases) {
    ScriptedSmtpServer server({k.script});
    StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
    ASSERT_FALSE(client.ok()) << k.message;
    EXPECT_TRUE(
        client.status().code() == StatusCode::kUnavailable ||
        (k.message.find("554") == 0 && client.status().code() == StatusCode::kFailedPrecondition))
        << client.status().ToString();
    EXPECT_NE(client.status().message().find(k.message), std::string::npos)
        << client.status().message();
  }
}

TEST(SmtpClientTest, AServerThatClosesMidTransactionIsRetryable) {
  for (bool after_data : {false, true}) {
    ScriptedSmtpServer server({[&](ScriptedConnection& c) {
      Hello(c, kPlainEhlo);
      EXPECT_TRUE(c.ReadLine().has_value());
      if (!after_data) return;  // closes on MAIL FROM
      c.Send("250 OK\r\n");
      c.ReadLine();
      c.Send("250 OK\r\n");
      c.ReadLine();
      c.Send("354 go ahead\r\n");
      c.ReadData();  // and closes without a reply
    }});
    StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com"},
                                      SmtpDataPayload(kMessage), In(milliseconds(5000)));
    EXPECT_EQ(sent.code(), StatusCode::kUnavailable) << sent.ToString();
    EXPECT_NE(sent.message().find("closed the connection"), std::string::npos) << sent.message();
    EXPECT_EQ((*client)->failed_before_any_reply(), !after_data);
  }
}

TEST(SmtpClientTest, ASilentServerHitsTheDeadline) {
  std::atomic<bool> done{false};
  auto wait = [&done] {
    while (!done) std::this_thread::sleep_for(milliseconds(10));
  };
  {
    // Never greets.
    ScriptedSmtpServer server({[&](ScriptedConnection&) { wait(); }});
    auto start = steady_clock::now();
    StatusOr<std::unique_ptr<SmtpClient>> client = Open(server, milliseconds(300));
    auto took = steady_clock::now() - start;
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.status().code(), StatusCode::kDeadlineExceeded) << client.status().ToString();
    EXPECT_GE(took, milliseconds(290));
    EXPECT_LT(took, milliseconds(1000));
    done = true;
  }
  done = false;
  {
    // Greets, then trickles a reply to the message one byte at a time, never finishing it.
    ScriptedSmtpServer server({[&](ScriptedConnection& c) {
      Hello(c, kPipeliningEhlo);
      for (int i = 0; i < 3; ++i) c.ReadLine();
      c.Send("250 OK\r\n250 OK\r\n354 go ahead\r\n");
      c.ReadData();
      while (!done) {
        c.Send("2");
        std::this_thread::sleep_for(milliseconds(50));
      }
    }});
    StatusOr<std::unique_ptr<SmtpClient>> client = Open(server);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    auto start = steady_clock::now();
    Status sent = (*client)->SendMail("ops@example.com", {"ada@example.com"},
                                      SmtpDataPayload(kMessage), In(milliseconds(400)));
    auto took = steady_clock::now() - start;
    EXPECT_EQ(sent.code(), StatusCode::kDeadlineExceeded) << sent.ToString();
    EXPECT_LT(took, milliseconds(1000));
    done = true;
  }
}

TEST(SmtpClientTest, AConnectThatFailsOrGoesUnansweredIsRetryable) {
  // A documentation address (TEST-NET-1): unreachable, or a SYN nobody answers until the connect
  // timeout.
  auto start = steady_clock::now();
  StatusOr<std::unique_ptr<SmtpClient>> client = SmtpClient::Open(
      {"192.0.2.1", "25", "client.test"}, milliseconds(200), In(milliseconds(5000)));
  auto took = steady_clock::now() - start;
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(client.status().IsRetryable()) << client.status().ToString();
  EXPECT_NE(client.status().message().find("could not connect"), std::string::npos);
  EXPECT_LT(took, milliseconds(1500));
}

// The email action's plain path against scripted servers.

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

TEST(EmailActionPlainPathTest, PipelinesOnOneKeptConnection) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    c.Send("220 scripted.test ESMTP\r\n");
    c.ReadLine();
    // STARTTLS is offered, but starttls is off: the plain client goes on without it.
    c.Send("250-scripted.test\r\n250-STARTTLS\r\n250 PIPELINING\r\n");
    AcceptMessages(c, server);
  }});
  EmailAction action(OptionsFor(server, StartTls::kOff));
  for (const char* key : {"run-1/receipt", "run-2/receipt", "run-3/receipt"}) {
    StatusOr<Json> sent = action.Execute(Request(key));
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(action.TEST_plain_pool().IdleCount(), 1u);
  std::vector<std::string> messages = server.Messages();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_NE(messages[1].find("Message-ID: " + MessageIdFor("run-2/receipt") + "\r\n"),
            std::string::npos);
  EXPECT_EQ(messages[1].substr(messages[1].size() - 5), "\r\n.\r\n");
}

TEST(EmailActionPlainPathTest, AKeptConnectionThatDiesUnansweredIsReplacedOnce) {
  // The first connection takes one message, then closes on the next command without a word.
  ScriptedSmtpServer server({
      [&](ScriptedConnection& c) {
        Hello(c, kPlainEhlo);
        for (int i = 0; i < 3; ++i) {  // MAIL FROM and two RCPT TO
          c.ReadLine();
          c.Send("250 OK\r\n");
        }
        c.ReadLine();
        c.Send("354 go ahead\r\n");
        if (std::optional<std::string> data = c.ReadData()) server.AddMessage(*data);
        c.Send("250 queued\r\n");
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

TEST(EmailActionPlainPathTest, AKeptConnectionTheServerGaveUpOnIsNotUsed) {
  // The server says 421 on its own while the connection is idle: the next message opens a new
  // connection instead of reading that as its reply.
  std::atomic<bool> sent_once{false};
  ScriptedSmtpServer server({
      [&](ScriptedConnection& c) {
        Hello(c, kPipeliningEhlo);
        for (int i = 0; i < 4; ++i) c.ReadLine();
        c.Send("250 OK\r\n250 OK\r\n250 OK\r\n354 go ahead\r\n");
        if (std::optional<std::string> data = c.ReadData()) server.AddMessage(*data);
        c.Send("250 queued\r\n");
        c.Send("421 4.4.2 Timeout exceeded\r\n");
        sent_once = true;
        c.ReadLine();
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

TEST(EmailActionPlainPathTest, ARefusalDropsTheConnection) {
  ScriptedSmtpServer server({
      [&](ScriptedConnection& c) {
        Hello(c, kPipeliningEhlo);
        for (int i = 0; i < 4; ++i) c.ReadLine();
        c.Send("250 OK\r\n550 5.1.1 No such user\r\n250 OK\r\n354 go ahead\r\n");
        EXPECT_TRUE(c.ClosesSilently(5000));
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
  EXPECT_EQ(action.TEST_plain_pool().IdleCount(), 0u);
  ASSERT_TRUE(action.Execute(Request("run-2/receipt")).ok());
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.Messages().size(), 1u);
}

TEST(EmailActionPlainPathTest, TheStepDeadlineBoundsASilentServer) {
  std::atomic<bool> done{false};
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

}  // namespace
}  // namespace flowrun
