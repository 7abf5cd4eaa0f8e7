// The email action against scripted SMTP peers on loopback (a thread per connection replays
// what each test scripts): kept connections, refusals, hostile and silent servers.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "actions/email/email_action.h"
#include "actions/email/mime_message.h"
#include "testing/scripted_smtp_server.h"
#include "testing/wait_until.h"

namespace flowrun {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

using testing::AcceptMessages;
using testing::Hello;
using testing::kPipeliningEhlo;
using testing::kPlainEhlo;
using testing::ScriptedConnection;
using testing::ScriptedSmtpServer;
using Script = testing::SmtpScript;

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
  ASSERT_TRUE(testing::WaitUntil([&] { return sent_once.load(); }));
  std::this_thread::sleep_for(milliseconds(50));
  StatusOr<Json> second = action.Execute(Request("run-2/receipt"));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(server.accepted(), 2);
  EXPECT_EQ(server.Messages().size(), 2u);
}

// With PIPELINING, MAIL, both RCPT and DATA arrive in one write (RFC 2920). A refused recipient
// fails the message with the reply quoted, and no payload goes out: neither when the server took
// DATA for the other recipient (354; the client drops the connection, which aborts the
// transaction) nor when it refused DATA for want of recipients. The next message goes out on a
// new connection.
TEST(EmailActionScriptedPeerTest, ARefusedRecipientRefusesTheMessageAndIsQuoted) {
  for (const char* replies :
       {"250 OK\r\n550 5.1.1 No such user\r\n250 OK\r\n354 go ahead\r\n",
        "250 OK\r\n550 5.1.1 No such user\r\n550 5.1.1 No such user\r\n554 5.5.1 No valid "
        "recipients\r\n"}) {
    std::atomic<bool> first_done{false};
    std::atomic<bool> payload_sent{false};
    std::vector<std::string> batch;
    ScriptedSmtpServer server({
        [&](ScriptedConnection& c) {
          Hello(c, kPipeliningEhlo);
          for (int i = 0; i < 4; ++i) batch.push_back(c.ReadLine().value_or("(closed)"));
          c.Send(replies);
          // The client closes the connection; a payload would come as DATA's content.
          while (std::optional<std::string> line = c.ReadLine()) {
            if (line->rfind("QUIT", 0) == 0) break;
            payload_sent = true;
          }
          first_done = true;
        },
        [&](ScriptedConnection& c) {
          Hello(c, kPipeliningEhlo);
          AcceptMessages(c, server);
        },
    });
    EmailAction action(OptionsFor(server, StartTls::kAuto));
    StatusOr<Json> refused = action.Execute(Request("run-1/receipt"));
    ASSERT_FALSE(refused.ok()) << replies;
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(refused.status().message().find("SMTP " + server.Url() +
                                              ": server replied \"550 5.1.1 No such user\""),
              std::string::npos)
        << refused.status().message();
    ASSERT_TRUE(action.Execute(Request("run-2/receipt")).ok());
    ASSERT_TRUE(testing::WaitUntil([&] { return first_done.load(); }));
    EXPECT_EQ(batch,
              (std::vector<std::string>{"MAIL FROM:<ops@example.com>", "RCPT TO:<ada@example.com>",
                                        "RCPT TO:<bob@example.com>", "DATA"}));
    EXPECT_FALSE(payload_sent) << replies;
    EXPECT_EQ(server.Messages().size(), 1u);
  }
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
