#include "actions/email/smtp_data.h"

#include <gtest/gtest.h>

#include <string>

namespace flowrun {
namespace {

TEST(SmtpDataTest, EndsWithTheTerminator) {
  EXPECT_EQ(SmtpDataPayload("Subject: x\r\n\r\nbody\r\n"), "Subject: x\r\n\r\nbody\r\n.\r\n");
  // A last line without a line end gets one before the terminator.
  EXPECT_EQ(SmtpDataPayload("body"), "body\r\n.\r\n");
  EXPECT_EQ(SmtpDataPayload(""), ".\r\n");
}

TEST(SmtpDataTest, DoublesDotsAtLineStarts) {
  EXPECT_EQ(SmtpDataPayload(".leading\r\n..two\r\nend.\r\n.\r\n"),
            "..leading\r\n...two\r\nend.\r\n..\r\n.\r\n");
  // A lone "." line in the message can never end the transaction early.
  std::string payload = SmtpDataPayload("a\r\n.\r\nb");
  EXPECT_EQ(payload.find("\r\n.\r\n"), payload.size() - 5);
}

TEST(SmtpDataTest, MakesEveryLineEndCrlf) {
  EXPECT_EQ(SmtpDataPayload("a\nb\rc\r\nd\n\ne"), "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n.\r\n");
  // A dot after a bare LF or CR is at a line start too.
  EXPECT_EQ(SmtpDataPayload("a\n.b\r.c"), "a\r\n..b\r\n..c\r\n.\r\n");
}

TEST(SmtpDataTest, HostileBodiesNeverEndTheDataEarly) {
  // Every mix of CR, LF and '.' an attacker might use to smuggle a second message.
  for (std::string body : {std::string("x\n.\nMAIL FROM:<evil@x>"), std::string("x\r.\rRSET"),
                           std::string("x\r\n.\nQUIT"), std::string("\n.\n"), std::string(".\r\n"),
                           std::string("\r\r\n\n.")}) {
    std::string payload = SmtpDataPayload(body);
    EXPECT_EQ(payload.find("\r\n.\r\n"), payload.rfind("\r\n.\r\n")) << body;
    size_t end = payload.find("\r\n.\r\n");
    if (end == std::string::npos) {
      EXPECT_EQ(payload, ".\r\n");
    } else {
      EXPECT_EQ(end + 5, payload.size()) << body;
    }
    // No bare CR or LF reaches the wire.
    for (size_t i = 0; i < payload.size(); ++i) {
      if (payload[i] == '\r') {
        EXPECT_EQ(payload[i + 1], '\n') << body;
      }
      if (payload[i] == '\n') {
        EXPECT_EQ(payload[i - 1], '\r') << body;
      }
    }
  }
}

TEST(SmtpDataTest, LargeMessagesKeepTheirSize) {
  std::string big(1 << 20, 'x');
  EXPECT_EQ(SmtpDataPayload(big).size(), big.size() + 5);
}

}  // namespace
}  // namespace flowrun
