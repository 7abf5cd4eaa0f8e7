#include "actions/email/email_action.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "actions/email/mime_message.h"
#include "common/percent_encoding.h"
#include "common/simulated_clock.h"
#include "testing/free_port.h"
#include "testing/in_memory_email_outbox.h"
#include "testing/paths.h"
#include "testing/smtp_server.h"
#include "testing/subprocess.h"
#include "testing/test_certificates.h"

namespace flowrun {
namespace {

using testing::SmtpServer;
using testing::SmtpServerOptions;

ActionRequest Request(Json arguments, std::string key = "run-7/welcome", int attempt = 1) {
  ActionRequest request;
  request.run_id = key.substr(0, key.find('/'));
  request.step_key = key.substr(key.find('/') + 1);
  request.idempotency_key = key;
  request.attempt = attempt;
  request.arguments = std::move(arguments);
  return request;
}

// Parses a received message with Python's own email package, the way a mail client would, and
// returns what it sees.
Json ParseWithPython(const std::string& message) {
  std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/message.eml", std::ios::binary) << message;
  const char* script = R"PY(
import email, email.policy, json, sys
msg = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
parts = []
for part in (msg.iter_parts() if msg.is_multipart() else [msg]):
    parts.append({'type': part.get_content_type(), 'content': part.get_content()})
print(json.dumps({
    'subject': str(msg['subject']), 'raw_subject': msg.get('subject').__class__.__name__,
    'from': str(msg['from']), 'to': str(msg['to']), 'cc': str(msg['cc'] or ''),
    'reply_to': str(msg['reply-to'] or ''), 'has_bcc': 'bcc' in msg,
    'message_id': str(msg['message-id']), 'date': str(msg['date']),
    'content_type': msg.get_content_type(), 'parts': parts,
    'x_campaign': str(msg['x-campaign'] or ''),
    'defects': [type(d).__name__ for d in msg.defects]}))
)PY";
  testing::ProcessResult result =
      testing::RunProcess({"/usr/bin/python3", "-c", script, dir + "/message.eml"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return Json::parse(result.out);
}

SmtpConfig SmtpFor(const SmtpServer& server) {
  SmtpConfig smtp;
  smtp.url = server.Url();
  smtp.from = "Flowrun Ops <ops@example.com>";
  smtp.starttls = StartTls::kAuto;
  return smtp;
}

EmailAction SmtpAction(const SmtpServer& server) {
  EmailActionOptions options;
  options.smtp = SmtpFor(server);
  options.timeout = std::chrono::seconds(10);
  return EmailAction(options);
}

// A TCP relay in front of the real SMTP server: counts the connections the client opens and can
// cut them all, as a server restart or an idle timeout on the way would.
class TcpRelay {
 public:
  explicit TcpRelay(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = testing::ListenOnLoopback(16, &port_);
    EXPECT_GE(listen_fd_, 0);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~TcpRelay() {
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    close(listen_fd_);
    CutAll();
  }
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  int port() const { return port_; }
  std::string Url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

  // Closes every relayed connection on both sides and returns once they are gone.
  void CutAll() {
    std::lock_guard lock(mu_);
    for (auto [client, server] : connections_) {
      shutdown(client, SHUT_RDWR);
      shutdown(server, SHUT_RDWR);
    }
    for (std::thread& pump : pumps_) pump.join();
    for (auto [client, server] : connections_) {
      close(client);
      close(server);
    }
    connections_.clear();
    pumps_.clear();
  }

 private:
  void AcceptLoop() {
    for (;;) {
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) return;
      int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ADD_FAILURE() << "the relay could not reach the SMTP server";
        close(client);
        close(server);
        continue;
      }
      ++accepted_;
      std::lock_guard lock(mu_);
      connections_.emplace_back(client, server);
      pumps_.emplace_back([client, server] { Pump(client, server); });
      pumps_.emplace_back([client, server] { Pump(server, client); });
    }
  }

  // Copies `from` to `to` until either side ends, then ends both.
  static void Pump(int from, int to) {
    char buffer[16384];
    for (;;) {
      ssize_t n = recv(from, buffer, sizeof buffer, 0);
      if (n <= 0 || send(to, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
    }
    shutdown(from, SHUT_RDWR);
    shutdown(to, SHUT_RDWR);
  }

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::pair<int, int>> connections_;  // GUARDED_BY(mu_); (client, server)
  std::vector<std::thread> pumps_;                // GUARDED_BY(mu_)
};

EmailAction RelayedAction(const SmtpServer& server, const TcpRelay& relay) {
  EmailActionOptions options;
  options.smtp = SmtpFor(server);
  options.smtp->url = relay.Url();
  options.timeout = std::chrono::seconds(10);
  return EmailAction(options);
}

class EmailPathTest : public ::testing::Test {};

Json Receipt() { return {{"to", "ada@example.com"}, {"subject", "Receipt"}, {"text", "Thanks"}}; }

// A STARTTLS server with the test certificates that wants AUTH as mailer / s3cret-pw.
SmtpServerOptions TlsAuthServerOptions(const testing::TestCertificates& certs) {
  SmtpServerOptions options;
  options.tls_cert = certs.server_cert;
  options.tls_key = certs.server_key;
  options.auth_user = "mailer";
  options.auth_password = "s3cret-pw";
  return options;
}

std::vector<std::string> MessageIds(const std::vector<testing::ReceivedMail>& mails) {
  std::vector<std::string> ids;
  for (const auto& mail : mails) ids.push_back(ParseWithPython(mail.data)["message_id"]);
  return ids;
}

TEST(MimeMessageTest, EncodesNonAsciiSubjectsPerRfc2047) {
  EXPECT_EQ(EncodeHeaderText("Plain subject"), "Plain subject");
  std::string encoded = EncodeHeaderText("Bienvenue, élève ✓");
  EXPECT_EQ(encoded.rfind("=?UTF-8?B?", 0), 0u);
  std::string long_subject;
  for (int i = 0; i < 30; ++i) long_subject += "日本語";
  std::string folded = EncodeHeaderText(long_subject);
  size_t start = 0;
  while (start < folded.size()) {
    size_t end = folded.find("\r\n ", start);
    std::string word =
        folded.substr(start, end == std::string::npos ? std::string::npos : end - start);
    EXPECT_LE(word.size(), 75u);
    EXPECT_EQ(word.rfind("=?UTF-8?B?", 0), 0u);
    start = end == std::string::npos ? folded.size() : end + 3;
  }
  EXPECT_EQ(EncodeHeaderText("looks =?like?= a word"), "=?UTF-8?B?bG9va3MgPT9saWtlPz0gYSB3b3Jk?=");
}

TEST(MimeMessageTest, MessageIdIsDerivedFromTheKey) {
  EXPECT_EQ(MessageIdFor("run-7/welcome"), MessageIdFor("run-7/welcome"));
  EXPECT_NE(MessageIdFor("run-7/welcome"), MessageIdFor("run-7/welcome[1]"));
  std::string id = MessageIdFor("run-7/welcome");
  EXPECT_EQ(id.size(), 1 + 32 + 9);
  EXPECT_EQ(id.substr(33), "@flowrun>");
}

TEST(MimeMessageTest, MailDate) {
  EXPECT_EQ(FormatMailDate(*ParseTimestamp("2026-03-03T09:30:05Z")),
            "Tue, 03 Mar 2026 09:30:05 +0000");
}

TEST(MimeMessageTest, AddressValidation) {
  EXPECT_TRUE(ParseMailAddress("ada@example.com", "to").ok());
  StatusOr<MailAddress> named = ParseMailAddress("\"Lovelace, Ada\" <ada@example.com>", "to");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->name, "Lovelace, Ada");
  EXPECT_EQ(named->ToHeader(), "\"Lovelace, Ada\" <ada@example.com>");
  for (std::string bad : {"ada", "ada@", "@example.com", "a..b@example.com", "ada@exa mple.com",
                          "ada@-example.com", "ada@example.com>", "Ada <ada@example.com> x",
                          "ada@example.com\r\nBcc: victim@example.com", "élève@example.com"}) {
    EXPECT_FALSE(ParseMailAddress(bad, "to").ok()) << bad;
  }
  StatusOr<std::vector<MailAddress>> list = ParseMailAddressList(
      Json({"a@example.com, \"B, b\" <b@example.com>", "c@example.com"}), "to");
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[1].name, "B, b");
}

TEST_F(EmailPathTest, SendsMultipartMimeThroughRealSmtp) {
  auto server = SmtpServer::Start();
  EmailAction action = SmtpAction(*server);
  StatusOr<Json> out = action.Execute(Request({
      {"to", {"Ada <ada@example.com>", "bob@example.com"}},
      {"cc", "carol@example.com"},
      {"bcc", {"audit@example.com"}},
      {"reply_to", "help@example.com"},
      {"subject", "Connectez votre Discord — ça prend 1 minute ✓"},
      {"text", "Hi Ada,\nconnect at https://app.example.com/discord\n.\nA line with a dot."},
      {"html", "<p>Hi <b>Ada</b>, connect <a href=\"https://app.example.com\">here</a></p>"},
      {"headers", {{"X-Campaign", "onboarding"}}},
  }));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["message_id"], MessageIdFor("run-7/welcome"));

  auto received = server->Accepted();
  ASSERT_EQ(received.size(), 1u);
  const testing::ReceivedMail& mail = received[0];
  EXPECT_EQ(mail.mail_from, "ops@example.com");
  EXPECT_EQ(mail.rcpt_tos, (std::vector<std::string>{"ada@example.com", "bob@example.com",
                                                     "carol@example.com", "audit@example.com"}));
  EXPECT_NE(mail.data.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_EQ(mail.data.find("audit@example.com"), std::string::npos) << "bcc leaked into headers";

  Json parsed = ParseWithPython(mail.data);
  EXPECT_EQ(parsed["subject"], "Connectez votre Discord — ça prend 1 minute ✓");
  EXPECT_EQ(parsed["from"], "Flowrun Ops <ops@example.com>");
  EXPECT_EQ(parsed["to"], "Ada <ada@example.com>, bob@example.com");
  EXPECT_EQ(parsed["cc"], "carol@example.com");
  EXPECT_EQ(parsed["reply_to"], "help@example.com");
  EXPECT_EQ(parsed["has_bcc"], false);
  EXPECT_EQ(parsed["message_id"], MessageIdFor("run-7/welcome"));
  EXPECT_FALSE(parsed["date"].get<std::string>().empty());
  EXPECT_EQ(parsed["x_campaign"], "onboarding");
  EXPECT_EQ(parsed["content_type"], "multipart/alternative");
  ASSERT_EQ(parsed["parts"].size(), 2u);
  EXPECT_EQ(parsed["parts"][0]["type"], "text/plain");
  EXPECT_EQ(parsed["parts"][0]["content"],
            "Hi Ada,\r\nconnect at https://app.example.com/discord\r\n.\r\nA line with a dot.");
  EXPECT_EQ(parsed["parts"][1]["type"], "text/html");
  EXPECT_NE(parsed["parts"][1]["content"].get<std::string>().find("<b>Ada</b>"), std::string::npos);
  EXPECT_TRUE(parsed["defects"].empty()) << parsed["defects"].dump();
}

TEST_F(EmailPathTest, TextOnlyMessageIsSinglePart) {
  auto server = SmtpServer::Start();
  EmailAction action = SmtpAction(*server);
  ASSERT_TRUE(
      action.Execute(Request({{"to", "ada@example.com"}, {"subject", "Hi"}, {"text", "Plain"}}))
          .ok());
  auto received = server->Accepted();
  ASSERT_EQ(received.size(), 1u);
  Json parsed = ParseWithPython(received[0].data);
  EXPECT_EQ(parsed["content_type"], "text/plain");
  EXPECT_EQ(parsed["subject"], "Hi");
  EXPECT_EQ(parsed["parts"][0]["content"], "Plain");
}

TEST_F(EmailPathTest, TemporaryFailureIsRetriedWithTheSameMessageId) {
  auto server = SmtpServer::Start();
  server->RefuseNext(1, "451 4.3.0 Try again later");
  EmailAction action = SmtpAction(*server);
  Json args = {{"to", "ada@example.com"}, {"subject", "Receipt"}, {"text", "Thanks"}};
  StatusOr<Json> first = action.Execute(Request(args, "run-9/receipt", 1));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable) << first.status().ToString();
  EXPECT_TRUE(first.status().IsRetryable());
  EXPECT_NE(first.status().message().find("451 4.3.0 Try again later"), std::string::npos)
      << first.status().message();

  StatusOr<Json> second = action.Execute(Request(args, "run-9/receipt", 2));
  ASSERT_TRUE(second.ok()) << second.status().ToString();

  auto received = server->Received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].reply.substr(0, 3), "451");
  EXPECT_EQ(received[1].reply.substr(0, 3), "250");
  Json a = ParseWithPython(received[0].data);
  Json b = ParseWithPython(received[1].data);
  EXPECT_EQ(a["message_id"], b["message_id"]);
  EXPECT_EQ(b["message_id"], MessageIdFor("run-9/receipt"));
  EXPECT_EQ((*second)["message_id"], MessageIdFor("run-9/receipt"));
}

TEST_F(EmailPathTest, MessagesShareOneConnection) {
  auto server = SmtpServer::Start();
  TcpRelay relay(server->port());
  EmailAction action = RelayedAction(*server, relay);
  for (const char* key : {"run-1/receipt", "run-2/receipt", "run-3/receipt"}) {
    StatusOr<Json> sent = action.Execute(Request(Receipt(), key));
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  EXPECT_EQ(relay.accepted(), 1);
  EXPECT_EQ(MessageIds(server->Accepted()),
            (std::vector<std::string>{MessageIdFor("run-1/receipt"), MessageIdFor("run-2/receipt"),
                                      MessageIdFor("run-3/receipt")}));
}

TEST_F(EmailPathTest, ACutConnectionIsReplaced) {
  auto server = SmtpServer::Start();
  TcpRelay relay(server->port());
  EmailAction action = RelayedAction(*server, relay);
  ASSERT_TRUE(action.Execute(Request(Receipt(), "run-1/receipt")).ok());
  relay.CutAll();
  StatusOr<Json> after_cut = action.Execute(Request(Receipt(), "run-2/receipt"));
  ASSERT_TRUE(after_cut.ok()) << after_cut.status().ToString();
  EXPECT_EQ(relay.accepted(), 2);
  ASSERT_TRUE(action.Execute(Request(Receipt(), "run-3/receipt")).ok());
  EXPECT_EQ(relay.accepted(), 2);
  EXPECT_EQ(MessageIds(server->Accepted()),
            (std::vector<std::string>{MessageIdFor("run-1/receipt"), MessageIdFor("run-2/receipt"),
                                      MessageIdFor("run-3/receipt")}));
}

TEST(EmailActionTest, AKeptConnectionStaysEncryptedAndAuthenticated) {
  std::string dir = testing::MakeTempDir();
  testing::TestCertificates certs = testing::GenerateTestCertificates(dir);
  auto server = SmtpServer::Start(TlsAuthServerOptions(certs));
  TcpRelay relay(server->port());
  EmailActionOptions options;
  options.smtp = SmtpConfig{"smtp://localhost:" + std::to_string(relay.port()), "ops@example.com",
                            StartTls::kRequired, "mailer", "s3cret-pw"};
  options.ca_file = certs.ca_cert;
  EmailAction action(options);
  for (const char* key : {"run-1/receipt", "run-2/receipt"}) {
    StatusOr<Json> sent = action.Execute(Request(Receipt(), key));
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  EXPECT_EQ(relay.accepted(), 1);
  auto received = server->Accepted();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_EQ(received[0].auth_user, "mailer");
  EXPECT_EQ(received[1].auth_user, "mailer");
}

// A refusal is a complete reply: the session is in a known state, and libcurl may keep it for
// the retry (or open a new one); either way the retry goes through.
TEST_F(EmailPathTest, ARetryAfterARefusalGoesThrough) {
  auto server = SmtpServer::Start();
  TcpRelay relay(server->port());
  EmailAction action = RelayedAction(*server, relay);
  ASSERT_TRUE(action.Execute(Request(Receipt(), "run-1/receipt")).ok());
  server->RefuseNext(1, "451 4.3.0 Try again later");
  StatusOr<Json> refused = action.Execute(Request(Receipt(), "run-2/receipt"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable) << refused.status().ToString();
  ASSERT_TRUE(action.Execute(Request(Receipt(), "run-2/receipt", 2)).ok());
  EXPECT_LE(relay.accepted(), 2);
  EXPECT_EQ(server->Accepted().size(), 2u);
}

TEST_F(EmailPathTest, PermanentFailureIsNotRetried) {
  auto server = SmtpServer::Start();
  server->RefuseNext(1, "554 5.7.1 Message rejected");
  EmailAction action = SmtpAction(*server);
  StatusOr<Json> out =
      action.Execute(Request({{"to", "ada@example.com"}, {"subject", "x"}, {"text", "y"}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition) << out.status().ToString();
  EXPECT_FALSE(out.status().IsRetryable());
  EXPECT_NE(out.status().message().find("554 5.7.1 Message rejected"), std::string::npos)
      << out.status().message();

  StatusOr<Json> rcpt =
      action.Execute(Request({{"to", "reject-me@example.com"}, {"subject", "x"}, {"text", "y"}}));
  ASSERT_FALSE(rcpt.ok());
  EXPECT_FALSE(rcpt.status().IsRetryable()) << rcpt.status().ToString();
  EXPECT_NE(rcpt.status().message().find("550 5.1.1 No such user"), std::string::npos)
      << rcpt.status().message();
}

TEST_F(EmailPathTest, BadInputIsRefusedAndNothingIsSent) {
  auto server = SmtpServer::Start();
  EmailAction action = SmtpAction(*server);
  struct Case {
    Json args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{{"to", "ada@example.com"}, {"subject", "Hi\r\nBcc: victim@example.com"}, {"text", "x"}},
       "CR"},
      {{{"to", "ada@example.com"}, {"subject", "Hi\nX-Injected: 1"}, {"text", "x"}}, "CR"},
      {{{"to", "ada@example.com\r\nRCPT TO:<victim@example.com>"}, {"text", "x"}}, "CR"},
      {{{"to", "not-an-address"}, {"text", "x"}}, "not a valid email address"},
      {{{"to", "ada@example.com"}, {"from", "nobody"}, {"text", "x"}}, "from"},
      {{{"to", "ada@example.com"}, {"subject", "x"}}, "text, html"},
      {{{"subject", "x"}, {"text", "x"}}, "to is required"},
      {{{"to", "ada@example.com"},
        {"text", "x"},
        {"headers", {{"X-A", "1\r\nBcc: v@example.com"}}}},
       "CR"},
      {{{"to", "ada@example.com"}, {"text", "x"}, {"headers", {{"Bcc", "v@example.com"}}}},
       "set by the email step"},
      {{{"to", "ada@example.com"}, {"text", "x"}, {"attachments", "x"}}, "unknown"},
  };
  for (const Case& c : cases) {
    StatusOr<Json> out = action.Execute(Request(c.args));
    ASSERT_FALSE(out.ok()) << c.args.dump();
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << c.args.dump();
    EXPECT_NE(out.status().message().find(c.message), std::string::npos) << out.status().message();
  }
  EXPECT_TRUE(server->Received().empty());
  EXPECT_FALSE(action.CheckArguments(cases[0].args).ok());
  EXPECT_TRUE(action
                  .CheckArguments({{"to", "${{ steps.get-user.output.body.email }}"},
                                   {"subject", "Run ${{ run.id }} failed"},
                                   {"text", "${{ error.message }}"}})
                  .ok());
}

TEST_F(EmailPathTest, UnreachableServerIsRetryable) {
  int port;
  {
    auto probe = SmtpServer::Start();
    port = probe->port();
  }
  EmailActionOptions options;
  options.smtp = SmtpConfig{"smtp://127.0.0.1:" + std::to_string(port), "ops@example.com",
                            StartTls::kAuto, "", ""};
  EmailAction action(options);
  StatusOr<Json> out =
      action.Execute(Request({{"to", "ada@example.com"}, {"subject", "x"}, {"text", "y"}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << out.status().ToString();
  EXPECT_NE(out.status().message().find("could not connect"), std::string::npos);
}

TEST(EmailActionTest, StartTlsRequiredRefusesAServerWithoutIt) {
  auto server = SmtpServer::Start();
  EmailActionOptions options;
  options.smtp = SmtpFor(*server);
  options.smtp->starttls = StartTls::kRequired;
  EmailAction action(options);
  StatusOr<Json> out =
      action.Execute(Request({{"to", "ada@example.com"}, {"subject", "x"}, {"text", "y"}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition) << out.status().ToString();
  EXPECT_NE(out.status().message().find("STARTTLS"), std::string::npos);
  EXPECT_TRUE(server->Received().empty());
}

// Dots at line starts are stuffed on the wire and arrive intact; bcc is envelope only.
TEST(EmailActionTest, DotsAndBccArriveAsWritten) {
  auto server = SmtpServer::Start();
  SimulatedClock clock;
  Json args = {{"to", {"Ada <ada@example.com>", "bob@example.com"}},
               {"bcc", "audit@example.com"},
               {"subject", "Ça va ✓"},
               {"text", ".leading dot\n..two\nend."},
               {"html", "<p>.</p>"}};
  EmailActionOptions options;
  options.smtp = SmtpFor(*server);
  options.clock = &clock;
  EmailAction action(options);
  ASSERT_TRUE(action.Execute(Request(args, "run-5/welcome")).ok());
  auto received = server->Accepted();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].mail_from, "ops@example.com");
  EXPECT_EQ(received[0].rcpt_tos,
            (std::vector<std::string>{"ada@example.com", "bob@example.com", "audit@example.com"}));
  Json parsed = ParseWithPython(received[0].data);
  EXPECT_FALSE(parsed["has_bcc"].get<bool>());
  EXPECT_EQ(parsed["parts"][0]["content"], ".leading dot\r\n..two\r\nend.");
  EXPECT_TRUE(parsed["defects"].empty()) << parsed.dump();
}

// Many messages at once against aiosmtpd: all arrive, each once, over at most smtp.max_sessions
// connections.
TEST(EmailActionTest, ManyConcurrentMessagesThroughBoundedSessions) {
  auto server = SmtpServer::Start();
  EmailActionOptions options;
  options.smtp = SmtpFor(*server);
  options.smtp->max_sessions = 4;
  TcpRelay relay(server->port());
  options.smtp->url = relay.Url();
  EmailAction action(options);
  constexpr int kMessages = 200;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  int failed = 0;
  for (int i = 0; i < kMessages; ++i) {
    action.Start(Request(Receipt(), "run-" + std::to_string(i) + "/receipt"),
                 [&](ActionRequest, StatusOr<Json> result) {
                   std::lock_guard lock(mu);
                   ++finished;
                   if (!result.ok()) {
                     ++failed;
                     ADD_FAILURE() << result.status().ToString();
                   }
                   cv.notify_one();
                 });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished == kMessages; }));
  }
  EXPECT_EQ(failed, 0);
  EXPECT_LE(relay.accepted(), 4);
  EXPECT_EQ(action.Stats().sessions_in_use, 0);
  EXPECT_EQ(action.Stats().waiting, 0);
  std::set<std::string> ids;
  for (const auto& mail : server->Accepted()) {
    size_t at = mail.data.find("Message-ID: ");
    ids.insert(mail.data.substr(at, mail.data.find("\r\n", at) - at));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kMessages));
}

// Under starttls auto, a server that offers STARTTLS gets an encrypted session.
TEST(EmailActionTest, StartTlsOfferedUnderAutoIsUsed) {
  std::string dir = testing::MakeTempDir();
  testing::TestCertificates certs = testing::GenerateTestCertificates(dir);
  SmtpServerOptions server_options;
  server_options.tls_cert = certs.server_cert;
  server_options.tls_key = certs.server_key;
  auto server = SmtpServer::Start(server_options);
  EmailActionOptions options;
  options.smtp = SmtpConfig{"smtp://localhost:" + std::to_string(server->port()), "ops@example.com",
                            StartTls::kAuto, "", ""};
  options.ca_file = certs.ca_cert;
  EmailAction action(options);
  for (const char* key : {"run-1/receipt", "run-2/receipt"}) {
    StatusOr<Json> sent = action.Execute(Request(Receipt(), key));
    ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  }
  EXPECT_EQ(server->Accepted().size(), 2u);

  // With a CA that did not sign the certificate, STARTTLS fails, and the message is not sent in
  // the clear instead.
  options.ca_file = certs.other_ca_cert;
  EmailAction untrusting(options);
  EXPECT_FALSE(untrusting.Execute(Request(Receipt(), "run-3/receipt")).ok());
  EXPECT_EQ(server->Received().size(), 2u);
}

TEST(EmailActionTest, StartTlsWithAuthFromSecrets) {
  std::string dir = testing::MakeTempDir();
  testing::TestCertificates certs = testing::GenerateTestCertificates(dir);
  auto server = SmtpServer::Start(TlsAuthServerOptions(certs));

  Secrets secrets(std::map<std::string, std::string>{{"SMTP_PASSWORD", "s3cret-pw"}});
  EmailActionOptions options;
  options.smtp = SmtpConfig{"smtp://localhost:" + std::to_string(server->port()), "ops@example.com",
                            StartTls::kRequired, "mailer", ""};
  options.smtp->password = *secrets.Resolve("${{ secrets.SMTP_PASSWORD }}");
  options.ca_file = certs.ca_cert;
  EmailAction action(options);
  StatusOr<Json> out =
      action.Execute(Request({{"to", "ada@example.com"}, {"subject", "TLS"}, {"text", "secure"}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  auto received = server->Accepted();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].auth_user, "mailer");

  // A wrong password is an authentication error, not retried, and nothing is sent; the password
  // never appears in the error.
  options.smtp->password = "wrong-password";
  SecretRedactor redactor(std::vector<std::string>{"wrong-password"});
  options.redactor = &redactor;
  EmailAction wrong(options);
  StatusOr<Json> denied =
      wrong.Execute(Request({{"to", "ada@example.com"}, {"subject", "TLS"}, {"text", "x"}}));
  ASSERT_FALSE(denied.ok());
  EXPECT_FALSE(denied.status().IsRetryable()) << denied.status().ToString();
  EXPECT_EQ(denied.status().message().find("wrong-password"), std::string::npos);
  EXPECT_EQ(server->Received().size(), 1u);

  // A CA that did not sign the server's certificate is refused.
  options.smtp->password = "s3cret-pw";
  options.ca_file = certs.other_ca_cert;
  EmailAction untrusting(options);
  StatusOr<Json> refused =
      untrusting.Execute(Request({{"to", "ada@example.com"}, {"subject", "TLS"}, {"text", "x"}}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition)
      << refused.status().ToString();
  EXPECT_EQ(server->Received().size(), 1u);
}

TEST(EmailActionTest, ImplicitTls) {
  std::string dir = testing::MakeTempDir();
  testing::TestCertificates certs = testing::GenerateTestCertificates(dir);
  SmtpServerOptions server_options;
  server_options.tls_cert = certs.server_cert;
  server_options.tls_key = certs.server_key;
  server_options.implicit_tls = true;
  auto server = SmtpServer::Start(server_options);
  EmailActionOptions options;
  options.smtp = SmtpConfig{"smtps://localhost:" + std::to_string(server->port()),
                            "ops@example.com", StartTls::kAuto, "", ""};
  options.ca_file = certs.ca_cert;
  EmailAction action(options);
  StatusOr<Json> out =
      action.Execute(Request({{"to", "ada@example.com"}, {"subject", "smtps"}, {"text", "x"}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(server->Accepted().size(), 1u);
}

TEST(EmailActionTest, WithoutSmtpMailGoesToTheOutboxOnce) {
  testing::InMemoryEmailOutbox outbox;
  EmailActionOptions options;
  options.outbox = &outbox;
  EmailAction action(options);
  Json args = {{"to", "ada@example.com"},
               {"bcc", "audit@example.com"},
               {"subject", "Ça va"},
               {"text", "hello"}};
  ASSERT_TRUE(action.Execute(Request(args, "run-3/notify", 1)).ok());
  ASSERT_TRUE(action.Execute(Request(args, "run-3/notify", 2)).ok());
  StatusOr<std::vector<OutboxMessage>> listed = outbox.List(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  const OutboxMessage& m = (*listed)[0];
  EXPECT_EQ(m.message_id, MessageIdFor("run-3/notify"));
  EXPECT_EQ(m.run_id, "run-3");
  EXPECT_EQ(m.step_key, "notify");
  EXPECT_EQ(m.from, "flowrun@localhost");
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"ada@example.com", "audit@example.com"}));
  EXPECT_EQ(m.subject, "Ça va");
  EXPECT_EQ(m.mime.find("audit@example.com"), std::string::npos);
  Json parsed = ParseWithPython(m.mime);
  EXPECT_EQ(parsed["subject"], "Ça va");
}

// The outbox is what GET /v1/outbox and the dashboard show: it keeps no secret, neither raw, nor
// percent-encoded, nor inside the base64 of a body part or an encoded-word of the subject.
TEST(EmailActionTest, TheOutboxCopyHasEverySecretRedacted) {
  const std::string secret = "tok-3f9a/Zq+7 key";
  testing::InMemoryEmailOutbox outbox;
  SecretRedactor redactor(std::vector<std::string>{secret, "tok-3f9a"});
  EmailActionOptions options;
  options.outbox = &outbox;
  options.redactor = &redactor;
  EmailAction action(options);
  Json args = {{"to", "ada@example.com"},
               {"subject", "Ça va " + secret},
               {"text", "Your key: " + secret +
                            "\nLink: https://x.test/?k=" + PercentEncode(secret) + "\nÉtat: ok"},
               {"html", "<p>" + secret + "</p>"},
               {"headers", {{"X-Campaign", "c-" + secret}}}};
  ASSERT_TRUE(action.Execute(Request(args, "run-4/notify", 1)).ok());
  StatusOr<std::vector<OutboxMessage>> listed = outbox.List(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  const OutboxMessage& m = (*listed)[0];
  EXPECT_EQ(m.subject, "Ça va ***");
  Json parsed = ParseWithPython(m.mime);
  const std::string seen = parsed.dump() + m.mime + m.subject;
  for (const std::string& form :
       {secret, PercentEncode(secret), std::string("tok-3f9a"), std::string("Zq+7")}) {
    EXPECT_EQ(seen.find(form), std::string::npos) << form << " in " << seen;
  }
  EXPECT_EQ(parsed["subject"], "Ça va ***");
  ASSERT_EQ(parsed["parts"].size(), 2u);
  EXPECT_NE(parsed["parts"][0]["content"].get<std::string>().find("Your key: ***"),
            std::string::npos);
  EXPECT_NE(parsed["parts"][0]["content"].get<std::string>().find("?k=***"), std::string::npos);
  EXPECT_NE(parsed["parts"][1]["content"].get<std::string>().find("<p>***</p>"), std::string::npos);
  EXPECT_EQ(parsed["x_campaign"], "c-***");
  EXPECT_TRUE(parsed["defects"].empty()) << parsed["defects"];
}

}  // namespace
}  // namespace flowrun
