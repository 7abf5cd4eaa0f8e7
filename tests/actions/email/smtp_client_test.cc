// The SMTP client and its sessions against scripted peers on loopback: the protocol paths libcurl
// used to cover (HELO, AUTH LOGIN, STARTTLS refused), hostile servers, the session bound, and
// stopping (every wait in these tests is bounded and generous: the machine may be loaded).
#include "actions/email/smtp_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actions/email/smtp_data.h"
#include "testing/scripted_smtp_server.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;
using testing::AcceptMessages;
using testing::Hello;
using testing::kPipeliningEhlo;
using testing::kPlainEhlo;
using testing::ScriptedConnection;
using testing::ScriptedSmtpServer;

constexpr auto kBoundedWait = 60s;

SmtpEnvelope Envelope(const std::string& subject = "hi") {
  SmtpEnvelope envelope;
  envelope.from = "ops@example.com";
  envelope.recipients = {"ada@example.com"};
  envelope.payload = SmtpDataPayload("Subject: " + subject + "\r\n\r\nbody\r\n");
  return envelope;
}

SmtpClientOptions OptionsFor(const std::string& url, StartTls starttls = StartTls::kAuto) {
  SmtpClientOptions options;
  options.session.endpoint = *SmtpEndpoint::Parse(url);
  options.session.starttls = starttls;
  options.session.tls = *MakeTlsClientContext("");
  options.timeout = 10s;
  return options;
}

// Collects the results of messages sent with Send(); Wait blocks (bounded) until `count` ended.
class Results {
 public:
  SmtpClient::Done Callback() {
    return [this](Status status) {
      std::lock_guard lock(mu_);
      statuses_.push_back(std::move(status));
      cv_.notify_all();
    };
  }
  bool Wait(size_t count, std::chrono::seconds within = kBoundedWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, within, [&] { return statuses_.size() >= count; });
  }
  std::vector<Status> statuses() {
    std::lock_guard lock(mu_);
    return statuses_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Status> statuses_;
};

Status SendOne(SmtpClient& client, SteadyTime deadline = SteadyTime::max()) {
  std::promise<Status> result;
  client.Send(Envelope(), deadline, [&](Status status) { result.set_value(status); });
  auto future = result.get_future();
  if (future.wait_for(kBoundedWait) != std::future_status::ready) {
    return InternalError("the client never answered");
  }
  return future.get();
}

class SmtpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Start().ok()); }
  OutboundLoop loop_;
};

TEST(SmtpEndpointTest, ParsesUrls) {
  auto plain = SmtpEndpoint::Parse("smtp://mail.example.com");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "mail.example.com");
  EXPECT_EQ(plain->port, 25);
  EXPECT_FALSE(plain->implicit_tls);
  EXPECT_EQ(plain->ehlo_name, "localhost");
  auto tls = SmtpEndpoint::Parse("smtps://[::1]:2465/client.example.com");
  ASSERT_TRUE(tls.ok());
  EXPECT_EQ(tls->host, "::1");
  EXPECT_EQ(tls->port, 2465);
  EXPECT_TRUE(tls->implicit_tls);
  EXPECT_EQ(tls->ehlo_name, "client.example.com");
  EXPECT_EQ(SmtpEndpoint::Parse("smtps://mx.test")->port, 465);
  for (std::string bad : {"http://mx.test", "smtp://", "smtp://:25", "smtp://mx.test:0",
                          "smtp://mx.test:99999", "smtp://mx.test:2x", "smtp://[::1"}) {
    EXPECT_FALSE(SmtpEndpoint::Parse(bad).ok()) << bad;
  }
}

TEST_F(SmtpClientTest, HeloLoginAndRefusedStartTlsAreHandled) {
  // EHLO refused (HELO instead), no STARTTLS; then a server whose STARTTLS is refused under auto
  // and that wants AUTH LOGIN.
  ScriptedSmtpServer old_server({[&](ScriptedConnection& c) {
    c.Send("220 old.test\r\n");
    EXPECT_EQ(c.ReadLine()->rfind("EHLO", 0), 0u);
    c.Send("502 5.5.2 what?\r\n");
    EXPECT_EQ(c.ReadLine()->rfind("HELO", 0), 0u);
    c.Send("250 old.test\r\n");
    AcceptMessages(c, old_server);
  }});
  SmtpClient old_client(loop_, OptionsFor(old_server.Url()));
  Status sent = SendOne(old_client);
  EXPECT_TRUE(sent.ok()) << sent.ToString();
  EXPECT_EQ(old_server.Messages().size(), 1u);

  std::atomic<bool> logged_in{false};
  constexpr const char* kEhlo = "250-login.test\r\n250-STARTTLS\r\n250 AUTH LOGIN\r\n";
  ScriptedSmtpServer login_server({[&](ScriptedConnection& c) {
                                     Hello(c, kEhlo);
                                     EXPECT_EQ(c.ReadLine(), "STARTTLS");
                                     c.Send("454 4.7.0 TLS not available\r\n");
                                     EXPECT_EQ(c.ReadLine(), "AUTH LOGIN");
                                     c.Send("334 VXNlcm5hbWU6\r\n");
                                     EXPECT_EQ(c.ReadLine(), "bWFpbGVy");  // "mailer"
                                     c.Send("334 UGFzc3dvcmQ6\r\n");
                                     EXPECT_EQ(c.ReadLine(), "czNjcmV0");  // "s3cret"
                                     c.Send("235 2.7.0 ok\r\n");
                                     logged_in = true;
                                     AcceptMessages(c, login_server);
                                   },
                                   [&](ScriptedConnection& c) {
                                     Hello(c, kEhlo);
                                     EXPECT_EQ(c.ReadLine(), "STARTTLS");
                                     c.Send("454 4.7.0 TLS not available\r\n");
                                     EXPECT_EQ(c.ReadLine(), "QUIT");  // never in the clear
                                   }});
  SmtpClientOptions options = OptionsFor(login_server.Url());
  options.session.username = "mailer";
  options.session.password = "s3cret";
  SmtpClient login_client(loop_, options);
  sent = SendOne(login_client);
  EXPECT_TRUE(sent.ok()) << sent.ToString();
  EXPECT_TRUE(logged_in);

  // The same refusal under `required` stops before anything is sent.
  options.session.starttls = StartTls::kRequired;
  SmtpClient required(loop_, options);
  Status refused = SendOne(required);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("454 4.7.0"), std::string::npos) << refused.ToString();
  EXPECT_EQ(login_server.Messages().size(), 1u);
}

TEST_F(SmtpClientTest, PipelinedEnvelopeAndRefusedAuth) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, "250-p.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n");
    EXPECT_EQ(c.ReadLine()->rfind("AUTH PLAIN ", 0), 0u);
    c.Send("535 5.7.8 bad credentials\r\n");
    EXPECT_EQ(c.ReadLine(), "QUIT");
    c.Send("221 bye\r\n");
  }});
  SmtpClientOptions options = OptionsFor(server.Url());
  options.session.username = "mailer";
  options.session.password = "wrong";
  SmtpClient client(loop_, options);
  Status denied = SendOne(client);
  EXPECT_EQ(denied.code(), StatusCode::kUnauthenticated) << denied.ToString();
  EXPECT_NE(denied.message().find("SMTP " + server.Url() + ": authentication failed"),
            std::string::npos)
      << denied.ToString();

  // With PIPELINING, MAIL, every RCPT and DATA arrive before the client waits for a reply, and
  // nothing more until the reply to DATA.
  std::string batch;
  ScriptedSmtpServer pipelining({[&](ScriptedConnection& c) {
    Hello(c, kPipeliningEhlo);
    std::vector<std::string> lines;
    for (int i = 0; i < 4; ++i) lines.push_back(c.ReadLine().value_or("(closed)"));
    EXPECT_EQ(lines,
              (std::vector<std::string>{"MAIL FROM:<ops@example.com>", "RCPT TO:<ada@example.com>",
                                        "RCPT TO:<bob@example.com>", "DATA"}));
    c.Send("250 OK\r\n250 OK\r\n250 OK\r\n");
    EXPECT_TRUE(c.QuietFor(100));
    c.Send("354 go ahead\r\n");
    if (std::optional<std::string> data = c.ReadData()) pipelining.AddMessage(*data);
    c.Send("250 queued\r\n");
    AcceptMessages(c, pipelining);
  }});
  SmtpClient pipelined(loop_, OptionsFor(pipelining.Url()));
  SmtpEnvelope envelope = Envelope();
  envelope.recipients.push_back("bob@example.com");
  std::promise<Status> result;
  pipelined.Send(envelope, SteadyTime::max(), [&](Status status) { result.set_value(status); });
  auto future = result.get_future();
  ASSERT_EQ(future.wait_for(kBoundedWait), std::future_status::ready);
  EXPECT_TRUE(future.get().ok());
  EXPECT_EQ(pipelining.Messages().size(), 1u);
}

// Each hostile server gets one message with a 3 s attempt and fails it, retryably, on time: at once
// when the server breaks the protocol, at the attempt's end when it stalls. Meanwhile a healthy
// server on the same loop takes 20 messages one after another, all before a stalling one ends.
TEST_F(SmtpClientTest, HostilePeersFailWithinTheirTimeAndSlowNobodyElse) {
  struct Case {
    std::string name;
    bool stalls;  // runs into the attempt's time rather than failing at once
    testing::SmtpScript script;
  };
  std::vector<Case> cases = {
      {"never answers", true, [](ScriptedConnection& c) { c.HoldUntilStopped(); }},
      {"closes mid-reply", false,
       [](ScriptedConnection& c) {
         Hello(c, kPlainEhlo);
         c.ReadLine();
         c.Send("250-2.1.0 sender");  // and closes
       }},
      {"endless multi-line reply", false,
       [](ScriptedConnection& c) {
         c.Send("220 hostile.test\r\n");
         c.ReadLine();
         while (!c.stopping()) {
           c.Send("250-more and more and more and more and more and more\r\n");
           std::this_thread::sleep_for(1ms);
         }
       }},
      {"oversized line", false,
       [](ScriptedConnection& c) {
         c.Send("220 ");
         std::string chunk(64 * 1024, 'x');
         for (int i = 0; i < 160 && !c.stopping(); ++i) c.Send(chunk);  // 10 MiB, no line end
         c.HoldUntilStopped();
       }},
      {"trickles one byte a second", true,
       [](ScriptedConnection& c) {
         Hello(c, kPlainEhlo);
         c.ReadLine();
         c.Trickle("250 2.1.0 sender ok\r\n", 1000);
         c.HoldUntilStopped();
       }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    ScriptedSmtpServer hostile({k.script});
    ScriptedSmtpServer healthy({[&](ScriptedConnection& c) {
      Hello(c, kPipeliningEhlo);
      AcceptMessages(c, healthy);
    }});
    SmtpClientOptions hostile_options = OptionsFor(hostile.Url());
    hostile_options.timeout = 3s;
    SmtpClient hostile_client(loop_, hostile_options);
    SmtpClient healthy_client(loop_, OptionsFor(healthy.Url()));

    auto started = std::chrono::steady_clock::now();
    std::promise<Status> hostile_result;
    std::atomic<bool> hostile_done{false};
    hostile_client.Send(Envelope(), SteadyTime::max(), [&](Status status) {
      hostile_done = true;
      hostile_result.set_value(status);
    });
    int healthy_before_hostile_ended = 0;
    for (int i = 0; i < 20; ++i) {
      Status sent = SendOne(healthy_client);
      ASSERT_TRUE(sent.ok()) << sent.ToString();
      if (!hostile_done) ++healthy_before_hostile_ended;
    }
    auto future = hostile_result.get_future();
    ASSERT_EQ(future.wait_for(kBoundedWait), std::future_status::ready);
    Status failed = future.get();
    auto took = std::chrono::steady_clock::now() - started;
    EXPECT_FALSE(failed.ok());
    EXPECT_TRUE(failed.IsRetryable()) << failed.ToString();
    EXPECT_LT(took, 20s) << "the attempt's time bounds it";
    // Bytes a hostile server sent never reach the error verbatim.
    EXPECT_LT(failed.message().size(), 400u) << failed.ToString();
    if (k.stalls) {
      EXPECT_GE(took, 2s) << "failed before the attempt's time: " << failed.ToString();
      EXPECT_EQ(healthy_before_hostile_ended, 20) << "the hostile server slowed the loop down";
    }
    EXPECT_EQ(healthy.Messages().size(), 20u);
  }
}

// A server that holds every message until four are in flight at once: with max_sessions 4 and
// eight messages, four sessions work side by side, never five.
TEST_F(SmtpClientTest, MessagesRunSideBySideUpToTheSessionBound) {
  std::mutex mu;
  std::condition_variable cv;
  int in_data = 0;
  int most_in_data = 0;
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPipeliningEhlo);
    while (std::optional<std::string> line = c.ReadLine()) {
      if (*line == "DATA") {
        c.Send("354 go ahead\r\n");
        c.ReadData();
        {
          std::unique_lock lock(mu);
          most_in_data = std::max(most_in_data, ++in_data);
          cv.notify_all();
          cv.wait_for(lock, 30s, [&] { return in_data >= 4 || most_in_data >= 4; });
          --in_data;
        }
        c.Send("250 queued\r\n");
      } else if (line->rfind("QUIT", 0) == 0) {
        c.Send("221 bye\r\n");
        return;
      } else {
        c.Send("250 OK\r\n");
      }
    }
  }});
  SmtpClientOptions options = OptionsFor(server.Url());
  options.max_sessions = 4;
  SmtpClient client(loop_, options);
  Results results;
  for (int i = 0; i < 8; ++i) client.Send(Envelope(), SteadyTime::max(), results.Callback());
  ASSERT_TRUE(results.Wait(8));
  for (const Status& status : results.statuses()) EXPECT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(most_in_data, 4);
  EXPECT_LE(server.accepted(), 4);
  EXPECT_EQ(client.Stats().sessions_in_use, 0);
  EXPECT_EQ(client.Stats().waiting, 0);
}

// With one session held by a silent server, a waiting message ends at its deadline, long before
// the held one's attempt does.
TEST_F(SmtpClientTest, AWaitingMessageEndsAtItsDeadline) {
  ScriptedSmtpServer server({[](ScriptedConnection& c) { c.HoldUntilStopped(); }});
  SmtpClientOptions options = OptionsFor(server.Url());
  options.max_sessions = 1;
  options.timeout = 120s;
  Results held;
  Results waiting;
  auto client = std::make_unique<SmtpClient>(loop_, options);
  client->Send(Envelope(), SteadyTime::max(), held.Callback());
  client->Send(Envelope(), std::chrono::steady_clock::now() + 300ms, waiting.Callback());
  ASSERT_TRUE(waiting.Wait(1));
  EXPECT_EQ(waiting.statuses()[0].code(), StatusCode::kDeadlineExceeded)
      << waiting.statuses()[0].ToString();
  EXPECT_NE(waiting.statuses()[0].message().find("waiting for a free SMTP session"),
            std::string::npos);
  EXPECT_TRUE(held.statuses().empty());
  // Destroying the client ends the held one.
  client.reset();
  ASSERT_TRUE(held.Wait(1));
  EXPECT_NE(held.statuses()[0].message().find("shutting down"), std::string::npos)
      << held.statuses()[0].ToString();
}

TEST(SmtpClientStopTest, StoppingTheLoopEndsMessagesInFlightAndLaterOnes) {
  std::atomic<int> greeted{0};
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPlainEhlo);
    ++greeted;
    c.HoldUntilStopped();  // never answers MAIL
  }});
  auto loop = std::make_unique<OutboundLoop>();
  ASSERT_TRUE(loop->Start().ok());
  SmtpClientOptions options = OptionsFor(server.Url());
  options.max_sessions = 2;
  SmtpClient client(*loop, options);
  Results results;
  for (int i = 0; i < 3; ++i) client.Send(Envelope(), SteadyTime::max(), results.Callback());
  // Wait until two are in flight and one waits for a session.
  auto until = std::chrono::steady_clock::now() + kBoundedWait;
  // Both sessions past EHLO: a stop before that would end a session before its greeting.
  while ((client.Stats().waiting != 1 || greeted < 2) && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(client.Stats().waiting, 1);
  ASSERT_EQ(greeted, 2);
  auto stopped = std::async(std::launch::async, [&] { loop->Stop(); });
  ASSERT_EQ(stopped.wait_for(kBoundedWait), std::future_status::ready) << "Stop never returned";
  ASSERT_TRUE(results.Wait(3, 1s));  // ended by the stop itself
  for (const Status& status : results.statuses()) {
    EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
    EXPECT_NE(status.message().find("shutting down"), std::string::npos) << status.ToString();
  }
  // After the stop, a message ends at once, on the caller's thread.
  Status late = SendOne(client);
  EXPECT_EQ(late.code(), StatusCode::kUnavailable) << late.ToString();
  EXPECT_EQ(client.Stats().sessions_in_use, 0);
}

TEST(SmtpClientStopTest, StopFromACallbackAndDestroyingTheClientDoNotDeadlock) {
  ScriptedSmtpServer server({[&](ScriptedConnection& c) {
    Hello(c, kPlainEhlo);
    c.HoldUntilStopped();
  }});
  auto loop = std::make_unique<OutboundLoop>();
  ASSERT_TRUE(loop->Start().ok());
  SmtpClientOptions options = OptionsFor(server.Url());
  options.timeout = 500ms;
  // A client destroyed while its message is in flight, the loop still running: the message ends.
  Results dropped;
  {
    SmtpClient client(*loop, options);
    client.Send(Envelope(), SteadyTime::max(), dropped.Callback());
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(dropped.Wait(1));
  EXPECT_FALSE(dropped.statuses()[0].ok());
  // A callback (on the loop thread) that stops the loop: the stop is asked, never waited on.
  auto client = std::make_unique<SmtpClient>(*loop, options);
  std::promise<void> returned;
  client->Send(Envelope(), SteadyTime::max(), [&](Status) {
    loop->Stop();
    returned.set_value();
  });
  ASSERT_EQ(returned.get_future().wait_for(kBoundedWait), std::future_status::ready);
  auto destroyed = std::async(std::launch::async, [&] {
    loop->Stop();
    client.reset();
    loop.reset();
  });
  EXPECT_EQ(destroyed.wait_for(kBoundedWait), std::future_status::ready);
}

}  // namespace
}  // namespace flowrun
