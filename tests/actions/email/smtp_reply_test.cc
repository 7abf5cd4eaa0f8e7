#include "actions/email/smtp_reply.h"

#include <gtest/gtest.h>

#include <string>

namespace flowrun {
namespace {

// Feeds `bytes` whole and returns the first reply.
StatusOr<std::optional<SmtpReply>> ReadOne(std::string_view bytes, SmtpReplyLimits limits = {}) {
  SmtpReplyReader reader(limits);
  reader.Feed(bytes);
  return reader.Next();
}

TEST(SmtpReplyTest, SingleAndMultiLineReplies) {
  auto one = ReadOne("250 2.0.0 OK\r\n");
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->code, 250);
  EXPECT_TRUE((*one)->positive());
  EXPECT_EQ((*one)->LastLine(), "250 2.0.0 OK");

  auto many = ReadOne("554-5.7.1 Spam\r\n554-\r\n554 5.7.1 Go away\r\n");
  ASSERT_TRUE(many.ok() && many->has_value());
  EXPECT_EQ((*many)->code, 554);
  EXPECT_EQ((*many)->lines, (std::vector<std::string>{"5.7.1 Spam", "", "5.7.1 Go away"}));
  EXPECT_EQ((*many)->LastLine(), "554 5.7.1 Go away");
  EXPECT_FALSE((*many)->positive());

  // A bare code, and bare LF line ends, are accepted.
  auto bare = ReadOne("354\n");
  ASSERT_TRUE(bare.ok() && bare->has_value());
  EXPECT_EQ((*bare)->code, 354);
  EXPECT_EQ((*bare)->LastLine(), "354");
  auto transient = ReadOne("451 later\r\n");
  EXPECT_TRUE((*transient)->transient());
}

TEST(SmtpReplyTest, RepliesArriveInPiecesAndBackToBack) {
  SmtpReplyReader reader;
  std::string wire = "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n220 next\r\n";
  std::vector<SmtpReply> replies;
  for (char c : wire) {
    reader.Feed(std::string_view(&c, 1));
    for (;;) {
      auto next = reader.Next();
      ASSERT_TRUE(next.ok()) << next.status().ToString();
      if (!next->has_value()) break;
      replies.push_back(**next);
    }
  }
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].lines.size(), 3u);
  EXPECT_EQ(replies[1].code, 220);
  EXPECT_FALSE(reader.HasBuffered());
  reader.Feed("250-half");
  EXPECT_FALSE(reader.Next()->has_value());
  EXPECT_TRUE(reader.HasBuffered());
  reader.Clear();
  EXPECT_FALSE(reader.HasBuffered());
}

TEST(SmtpReplyTest, EhloExtensions) {
  auto ehlo = ReadOne(
      "250-mx.test greets you\r\n250-PIPELINING\r\n250-auth login  Plain\r\n"
      "250-STARTTLSX\r\n250 8BITMIME\r\n");
  ASSERT_TRUE(ehlo.ok() && ehlo->has_value());
  const SmtpReply& reply = **ehlo;
  EXPECT_TRUE(reply.Offers("pipelining"));
  EXPECT_TRUE(reply.Offers("AUTH"));
  EXPECT_FALSE(reply.Offers("STARTTLS"));  // a keyword is a whole word
  EXPECT_FALSE(reply.Offers("mx.test"));   // the first line is the greeting, not a keyword
  EXPECT_EQ(reply.ParametersOf("AUTH"), (std::vector<std::string>{"LOGIN", "PLAIN"}));
  EXPECT_TRUE(reply.ParametersOf("SIZE").empty());
}

TEST(SmtpReplyTest, MalformedRepliesAreErrors) {
  for (std::string bad : std::vector<std::string>{
           "hello there\r\n", "2x0 nope\r\n", "25\r\n", "250_x\r\n", "199 low\r\n", "600 high\r\n",
           "260 bad second digit\r\n", "250-a\r\n251 b\r\n", std::string("250 nul\0here\r\n", 14),
           "250 esc\x1b[2J\r\n"}) {
    auto read = ReadOne(bad);
    ASSERT_FALSE(read.ok()) << bad;
    EXPECT_EQ(read.status().code(), StatusCode::kUnavailable);
    EXPECT_TRUE(read.status().IsRetryable());
    // What the error quotes is printable.
    for (char c : read.status().message()) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << bad;
  }
  // A tab and non-ASCII text are fine.
  EXPECT_TRUE(ReadOne("250 ok\there \xc3\xa9\r\n").ok());
}

TEST(SmtpReplyTest, OversizedRepliesAreBounded) {
  SmtpReplyLimits limits;
  limits.max_line_bytes = 100;
  limits.max_lines = 5;
  // A line that never ends is refused once it passes the bound, without waiting for its end.
  SmtpReplyReader endless(limits);
  endless.Feed("220 " + std::string(60, 'x'));
  EXPECT_TRUE(endless.Next().ok());
  endless.Feed(std::string(60, 'x'));
  auto refused = endless.Next();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("longer than 100 bytes"), std::string::npos);
  // A complete but too long line.
  EXPECT_FALSE(ReadOne("250 " + std::string(200, 'y') + "\r\n", limits).ok());
  // Endlessly many lines.
  std::string lines;
  for (int i = 0; i < 6; ++i) lines += "220-more\r\n";
  auto many = ReadOne(lines, limits);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("more than 5 lines"), std::string::npos);
  // Exactly at the bounds is fine.
  std::string five = "250-a\r\n250-b\r\n250-c\r\n250-d\r\n250 " + std::string(96, 'e') + "\r\n";
  auto fits = ReadOne(five, limits);
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_TRUE(fits->has_value());
}

TEST(SmtpReplyTest, DefaultBoundsHoldAgainstAFloodOfLines) {
  std::string flood;
  for (int i = 0; i < 10000; ++i) flood += "220-more\r\n";
  EXPECT_FALSE(ReadOne(flood).ok());
  EXPECT_FALSE(ReadOne("220 " + std::string(1 << 20, 'x')).ok());
}

}  // namespace
}  // namespace flowrun
