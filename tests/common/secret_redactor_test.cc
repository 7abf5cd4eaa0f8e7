#include "common/secret_redactor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace flowrun {
namespace {

TEST(SecretRedactorTest, RedactsTextJsonKeysAndStatus) {
  SecretRedactor redactor = SecretRedactor::FromObject(
      {{"TOKEN", "abc123"}, {"LONG", "abc123-extended"}, {"SHORT", "on"}, {"NUMBER", 12345}});
  EXPECT_EQ(redactor.RedactText("Bearer abc123; other abc123-extended; on; 12345"),
            "Bearer ***; other ***; on; 12345");
  Json value = {{"headers", {{"Authorization", "Bearer abc123"}}},
                {"list", {1, "xabc123x", nullptr}},
                {"abc123", true}};
  Json redacted = redactor.RedactJson(value);
  EXPECT_EQ(redacted["headers"]["Authorization"], "Bearer ***");
  EXPECT_EQ(redacted["list"], Json({1, "x***x", nullptr}));
  EXPECT_TRUE(redacted.contains("***"));
  EXPECT_FALSE(redacted.contains("abc123"));
  Status status = UnavailableError("GET https://x/?key=abc123 failed");
  status.set_retry_after_ms(1500);
  Status clean = redactor.RedactStatus(status);
  EXPECT_EQ(clean.code(), StatusCode::kUnavailable);
  EXPECT_EQ(clean.message(), "GET https://x/?key=*** failed");
  EXPECT_EQ(clean.retry_after_ms(), 1500);
}

TEST(SecretRedactorTest, WithNoSecretsChangesNothing) {
  SecretRedactor redactor;
  EXPECT_TRUE(redactor.empty());
  Json value = {{"a", "b"}};
  EXPECT_EQ(redactor.RedactJson(value), value);
  EXPECT_EQ(redactor.RedactText("text"), "text");
}

TEST(SecretRedactorTest, SecretContainingRedactionMarkerTerminates) {
  SecretRedactor redactor(std::vector<std::string>{"****"});
  EXPECT_EQ(redactor.RedactText("a********b"), "a******b");
}

// With secrets "abc" and "abcdef", "abcdef" is hidden whole, never as "***def".
TEST(SecretRedactorTest, ReplacesTheLongestSecretFirstInAnyOrder) {
  SecretRedactor forward(std::vector<std::string>{"abc", "abcdef"});
  SecretRedactor reversed(std::vector<std::string>{"abcdef", "abc"});
  for (const std::string text : {"abcdef", "xabcdefx abc", "abcabcdef", "abcdefabc"}) {
    const std::string shown = forward.RedactText(text);
    EXPECT_EQ(reversed.RedactText(text), shown) << text;
    EXPECT_EQ(shown.find("def"), std::string::npos) << text << " -> " << shown;
    EXPECT_EQ(shown.find("abc"), std::string::npos) << text << " -> " << shown;
  }
  EXPECT_EQ(forward.RedactText("xabcdefx abc"), "x***x ***");
  EXPECT_EQ(forward.RedactJson(Json("abcdef")), Json("***"));
}

TEST(SecretRedactorTest, RedactsPercentEncodedForms) {
  SecretRedactor redactor(std::vector<std::string>{"p@ss w/rd+1"});
  for (const std::string text :
       {"https://x/?pw=p%40ss%20w%2Frd%2B1", "https://x/?pw=p%40ss%20w%2frd%2b1",
        "pw=p%40ss+w%2Frd%2B1&x=1", "raw p@ss w/rd+1"}) {
    const std::string shown = redactor.RedactText(text);
    EXPECT_EQ(shown.find("ss"), std::string::npos) << text << " -> " << shown;
    EXPECT_NE(shown.find("***"), std::string::npos) << text;
  }
  // A secret with nothing to encode has one form only; short values are never redacted.
  EXPECT_EQ(SecretRedactor(std::vector<std::string>{"plain"}).needles(),
            std::vector<std::string>{"plain"});
  EXPECT_GT(SecretRedactor(std::vector<std::string>{"a b"}).needles().size(), 1u);
  EXPECT_TRUE(SecretRedactor(std::vector<std::string>{"ab"}).needles().empty());
}

// Property: for random secrets over a small alphabet (so that secrets overlap, contain and
// repeat each other) and random texts built from pieces of them, redaction ends, its result does
// not depend on the order the secrets were given in, and, when no secret contains the mask's '*',
// no secret survives and redacting again changes nothing.
TEST(SecretRedactorTest, PropertyNoSecretSurvivesInAnyOrder) {
  std::mt19937 random(20261205);
  auto random_string = [&](size_t min_length, size_t max_length) {
    std::uniform_int_distribution<size_t> length(min_length, max_length);
    std::uniform_int_distribution<int> letter(0, 3);
    std::string out(length(random), 'a');
    for (char& c : out) c = static_cast<char>("ab*c"[letter(random)]);
    return out;
  };
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::string> secrets;
    std::uniform_int_distribution<int> count(1, 4);
    for (int i = count(random); i > 0; --i) secrets.push_back(random_string(3, 7));
    std::string text;
    std::uniform_int_distribution<size_t> pick(0, secrets.size() - 1);
    for (int i = 0; i < 6; ++i) text += random_string(0, 3) + secrets[pick(random)];
    SecretRedactor redactor(secrets);
    const std::string shown = redactor.RedactText(text);
    std::vector<std::string> shuffled = secrets;
    std::shuffle(shuffled.begin(), shuffled.end(), random);
    EXPECT_EQ(SecretRedactor(shuffled).RedactText(text), shown) << text;
    const bool masks_are_inert = std::none_of(secrets.begin(), secrets.end(), [](const auto& s) {
      return s.find('*') != std::string::npos;
    });
    if (!masks_are_inert) continue;
    EXPECT_EQ(redactor.RedactText(shown), shown) << text;
    for (const std::string& secret : secrets) {
      EXPECT_EQ(shown.find(secret), std::string::npos)
          << "secret " << secret << " in " << text << " -> " << shown;
    }
  }
}

}  // namespace
}  // namespace flowrun
