// Signatures here are computed independently of the code under test: by the openssl command-line
// tool run as a subprocess, or taken from the test vectors that GitHub and Svix document.
#include "server/webhooks/webhook_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/webhooks/replay_guard.h"
#include "server/webhooks/webhook_crypto.h"
#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A clock that stands still unless set; Unix seconds for readability.
class TestClock final : public Clock {
 public:
  explicit TestClock(long long unix_seconds) : now_ms_(unix_seconds * 1000) {}
  TimePoint Now() const override { return FromUnixMillis(now_ms_.load()); }
  void SetSeconds(long long unix_seconds) { now_ms_.store(unix_seconds * 1000); }
  void AdvanceMillis(long long ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<long long> now_ms_;
};

constexpr long long kNow = 1700000000;

std::string ToHex(const std::string& bytes) {
  std::string out;
  char buffer[3];
  for (unsigned char c : bytes) {
    std::snprintf(buffer, sizeof buffer, "%02x", c);
    out += buffer;
  }
  return out;
}

std::string WriteTempFile(const std::string& content) {
  static int counter = 0;
  std::string path = testing::MakeTempDir() + "/file" + std::to_string(counter++);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// HMAC-SHA256 of `content` under `key` by `openssl dgst`, as lower-case hex.
std::string OpensslHmacHex(const std::string& key, const std::string& content) {
  testing::ProcessResult result =
      testing::RunProcess({"/usr/bin/openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt",
                           "hexkey:" + ToHex(key), "-r", WriteTempFile(content)});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.out.substr(0, 64);
}

// The same, as base64.
std::string OpensslHmacBase64(const std::string& key, const std::string& content) {
  std::string digest = WriteTempFile("");
  testing::ProcessResult mac = testing::RunProcess(
      {"/usr/bin/openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + ToHex(key),
       "-binary", "-out", digest, WriteTempFile(content)});
  EXPECT_EQ(mac.exit_code, 0) << mac.err;
  testing::ProcessResult b64 =
      testing::RunProcess({"/usr/bin/openssl", "base64", "-A", "-in", digest});
  EXPECT_EQ(b64.exit_code, 0) << b64.err;
  return Trimmed(b64.out);
}

std::unique_ptr<WebhookVerifier> Make(const WebhookVerifierOptions& options, const Clock& clock) {
  StatusOr<std::unique_ptr<WebhookVerifier>> verifier = MakeWebhookVerifier(options, clock);
  EXPECT_TRUE(verifier.ok()) << verifier.status().ToString();
  return verifier.ok() ? std::move(verifier).value() : nullptr;
}

WebhookVerifierOptions Scheme(std::string scheme, std::string secret) {
  WebhookVerifierOptions options;
  options.scheme = std::move(scheme);
  options.secret = std::move(secret);
  return options;
}

// The message of a verification that must fail as kUnauthenticated.
std::string Refusal(const WebhookVerifier& verifier, const WebhookHeaders& headers,
                    std::string_view body) {
  StatusOr<VerifiedDelivery> result = verifier.Verify(headers, body);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kUnauthenticated) << result.status().ToString();
  return result.status().message();
}

// ---------------------------------------------------------------------------------------------
// Primitives

TEST(WebhookCryptoTest, HmacMatchesRfc4231TestCase2) {
  StatusOr<std::string> mac = HmacSha256("Jefe", {"what do ya ", "want for nothing?"});
  ASSERT_TRUE(mac.ok());
  EXPECT_EQ(HexEncode(*mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(WebhookCryptoTest, HmacOfPartsEqualsHmacOfTheirConcatenation) {
  EXPECT_EQ(*HmacSha256("k", {"a", "", "bc"}), *HmacSha256("k", {"abc"}));
  EXPECT_EQ(HexEncode(*HmacSha256("k", {"abc"})), OpensslHmacHex("k", "abc"));
}

TEST(WebhookCryptoTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_TRUE(ConstantTimeEqualsAny("b", {"a", "b"}));
  EXPECT_FALSE(ConstantTimeEqualsAny("c", {"a", "b"}));
  EXPECT_FALSE(ConstantTimeEqualsAny("c", {}));
}

TEST(WebhookHeadersTest, NamesIgnoreCase) {
  WebhookHeaders headers{{"Stripe-Signature", "a"}, {"stripe-signature", "b"}, {"X", "c"}};
  EXPECT_EQ(headers.GetAll("STRIPE-SIGNATURE"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(*headers.GetOne("s", "x", 10), "c");
  EXPECT_THAT(headers.GetOne("s", "Stripe-Signature", 10).status().message(),
              HasSubstr("more than one Stripe-Signature header"));
  EXPECT_EQ(headers.GetOne("s", "Y", 10).status().message(), "s signature: missing Y header");
}

// ---------------------------------------------------------------------------------------------
// stripe

class StripeTest : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "whsec_test_secret_0123456789";
  static constexpr const char* kBody = R"({"id":"evt_1","type":"invoice.paid"})";

  WebhookHeaders Signed(long long t, const std::string& body, const std::string& secret = kSecret) {
    std::string t_text = std::to_string(t);
    return {
        {"Stripe-Signature", "t=" + t_text + ",v1=" + OpensslHmacHex(secret, t_text + "." + body)}};
  }

  TestClock clock_{kNow};
  std::unique_ptr<WebhookVerifier> verifier_ = Make(Scheme("stripe", kSecret), clock_);
};

TEST_F(StripeTest, AcceptsAValidSignature) {
  StatusOr<VerifiedDelivery> delivery = verifier_->Verify(Signed(kNow - 10, kBody), kBody);
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  EXPECT_EQ(verifier_->scheme(), "stripe");
  EXPECT_EQ(delivery->signed_at, FromUnixMillis((kNow - 10) * 1000));
  EXPECT_EQ(delivery->remember_until, FromUnixMillis((kNow - 10 + 300) * 1000));
  EXPECT_EQ(delivery->replay_key,
            "stripe:" + std::to_string(kNow - 10) + ":" + HexEncode(Sha256(kBody)));
  EXPECT_EQ(delivery->delivery_id, "");
}

TEST_F(StripeTest, AcceptsAnEmptyBody) {
  EXPECT_TRUE(verifier_->Verify(Signed(kNow, ""), "").ok());
}

TEST_F(StripeTest, AcceptsAnyOfSeveralV1SignaturesAndIgnoresV0) {
  std::string t = std::to_string(kNow);
  std::string good = OpensslHmacHex(kSecret, t + "." + kBody);
  std::string other = OpensslHmacHex("whsec_the_other_secret", t + "." + kBody);
  WebhookHeaders rolled{{"Stripe-Signature", "t=" + t + ",v1=" + other + ", v1=" + good +
                                                 ",v0=6ffbb59b2300aae63f272406069a9788598b792a"}};
  EXPECT_TRUE(verifier_->Verify(rolled, kBody).ok());
  WebhookHeaders first{{"Stripe-Signature", "v1=" + good + ",t=" + t + ",v1=" + other}};
  EXPECT_TRUE(verifier_->Verify(first, kBody).ok());
}

TEST_F(StripeTest, RefusesAWrongSecret) {
  std::string message = Refusal(*verifier_, Signed(kNow, kBody, "whsec_wrong"), kBody);
  EXPECT_EQ(message,
            "stripe signature: no v1 signature matches the body (wrong secret or altered body)");
}

TEST_F(StripeTest, RefusesABodyChangedByOneByte) {
  std::string altered = kBody;
  altered[8] ^= 1;
  EXPECT_THAT(Refusal(*verifier_, Signed(kNow, kBody), altered), HasSubstr("no v1 signature"));
  EXPECT_THAT(Refusal(*verifier_, Signed(kNow, kBody), std::string(kBody) + " "),
              HasSubstr("no v1 signature"));
}

TEST_F(StripeTest, RefusesAForgedSignatureWithoutRevealingTheExpectedOne) {
  std::string t = std::to_string(kNow);
  std::string expected = OpensslHmacHex(kSecret, t + "." + kBody);
  std::string forged = expected;
  forged[0] = forged[0] == 'a' ? 'b' : 'a';
  std::string message =
      Refusal(*verifier_, {{"Stripe-Signature", "t=" + t + ",v1=" + forged}}, kBody);
  EXPECT_THAT(message, Not(HasSubstr(expected)));
  EXPECT_THAT(message, Not(HasSubstr(expected.substr(0, 16))));
}

TEST_F(StripeTest, RefusesATimestampTooOldOrTooFarInTheFuture) {
  EXPECT_EQ(Refusal(*verifier_, Signed(kNow - 301, kBody), kBody),
            "stripe signature: timestamp outside the 300 s tolerance (301 s old)");
  EXPECT_EQ(Refusal(*verifier_, Signed(kNow + 301, kBody), kBody),
            "stripe signature: timestamp outside the 300 s tolerance (301 s in the future)");
  EXPECT_TRUE(verifier_->Verify(Signed(kNow - 300, kBody), kBody).ok());
  EXPECT_TRUE(verifier_->Verify(Signed(kNow + 300, kBody), kBody).ok());
}

TEST_F(StripeTest, ADeliveryExpiresAsTheClockMoves) {
  WebhookHeaders headers = Signed(kNow, kBody);
  EXPECT_TRUE(verifier_->Verify(headers, kBody).ok());
  clock_.AdvanceMillis(300 * 1000);
  EXPECT_TRUE(verifier_->Verify(headers, kBody).ok());
  clock_.AdvanceMillis(1);
  EXPECT_THAT(Refusal(*verifier_, headers, kBody), HasSubstr("outside the 300 s tolerance"));
}

TEST_F(StripeTest, HonoursAConfiguredTolerance) {
  WebhookVerifierOptions options = Scheme("stripe", kSecret);
  options.tolerance = std::chrono::seconds(10);
  std::unique_ptr<WebhookVerifier> strict = Make(options, clock_);
  EXPECT_EQ(Refusal(*strict, Signed(kNow - 11, kBody), kBody),
            "stripe signature: timestamp outside the 10 s tolerance (11 s old)");
  EXPECT_TRUE(strict->Verify(Signed(kNow - 10, kBody), kBody).ok());
}

TEST_F(StripeTest, RefusesMalformedHeaders) {
  std::string sig = OpensslHmacHex(kSecret, std::to_string(kNow) + "." + kBody);
  std::string t = "t=" + std::to_string(kNow);
  struct Case {
    WebhookHeaders headers;
    std::string message;
  };
  std::vector<Case> cases = {
      {{}, "stripe signature: missing Stripe-Signature header"},
      {{{"Stripe-Signature", ""}}, "malformed Stripe-Signature header: no t= timestamp"},
      {{{"Stripe-Signature", "v1=" + sig}}, "malformed Stripe-Signature header: no t= timestamp"},
      {{{"Stripe-Signature", t}}, "malformed Stripe-Signature header: no v1= signature"},
      {{{"Stripe-Signature", t + ",v0=" + sig}}, "no v1= signature"},
      {{{"Stripe-Signature", t + "," + t + ",v1=" + sig}}, "more than one t="},
      {{{"Stripe-Signature", t + ",v1" + sig}}, "an element has no '='"},
      {{{"Stripe-Signature", "t=abc,v1=" + sig}}, "malformed timestamp in Stripe-Signature t="},
      {{{"Stripe-Signature", "t=-5,v1=" + sig}}, "malformed timestamp"},
      {{{"Stripe-Signature", "t=1e9,v1=" + sig}}, "malformed timestamp"},
      {{{"Stripe-Signature", "t=,v1=" + sig}}, "malformed timestamp"},
      {{{"Stripe-Signature", "t=9999999999999,v1=" + sig}}, "malformed timestamp"},
      {{{"Stripe-Signature", t + ",v1=" + sig}, {"stripe-signature", t + ",v1=" + sig}},
       "more than one Stripe-Signature header"},
      {{{"Stripe-Signature", t + ",v1=zz"}}, "no v1 signature matches"},
      {{{"Stripe-Signature", t + ",v1=" + sig.substr(0, 62)}}, "no v1 signature matches"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Refusal(*verifier_, c.headers, kBody), HasSubstr(c.message)) << c.message;
  }
}

TEST_F(StripeTest, RefusesOversizedHeadersAndTooManySignatures) {
  std::string t = "t=" + std::to_string(kNow);
  std::string huge = t + ",v1=" + std::string(kMaxSignatureHeaderBytes, 'a');
  EXPECT_EQ(Refusal(*verifier_, {{"Stripe-Signature", huge}}, kBody),
            "stripe signature: Stripe-Signature header is longer than 8192 bytes");
  std::string many = t;
  for (int i = 0; i < 17; ++i) many += ",v1=" + std::string(64, 'a');
  EXPECT_THAT(Refusal(*verifier_, {{"Stripe-Signature", many}}, kBody), HasSubstr("too many"));
}

TEST_F(StripeTest, AReplayHasTheSameKeyAndTheGuardRefusesIt) {
  ReplayGuard guard(clock_);
  WebhookHeaders headers = Signed(kNow, kBody);
  StatusOr<VerifiedDelivery> first = verifier_->Verify(headers, kBody);
  StatusOr<VerifiedDelivery> replay = verifier_->Verify(headers, kBody);
  ASSERT_TRUE(first.ok() && replay.ok());
  EXPECT_EQ(first->replay_key, replay->replay_key);
  EXPECT_TRUE(guard.Admit(first->replay_key, first->remember_until).ok());
  EXPECT_EQ(guard.Admit(replay->replay_key, replay->remember_until).code(),
            StatusCode::kAlreadyExists);
  // A new delivery of the same event is signed at a new time: a different key.
  StatusOr<VerifiedDelivery> retry = verifier_->Verify(Signed(kNow + 1, kBody), kBody);
  ASSERT_TRUE(retry.ok());
  EXPECT_NE(retry->replay_key, first->replay_key);
  EXPECT_TRUE(guard.Admit(retry->replay_key, retry->remember_until).ok());
  // Once the tolerance has passed, the timestamp check refuses the replay by itself.
  clock_.AdvanceMillis(301 * 1000);
  EXPECT_THAT(Refusal(*verifier_, headers, kBody), HasSubstr("tolerance"));
}

// ---------------------------------------------------------------------------------------------
// github

class GithubTest : public ::testing::Test {
 protected:
  // The example in GitHub's "Validating webhook deliveries" documentation.
  static constexpr const char* kSecret = "It's a Secret to Everybody";
  static constexpr const char* kBody = "Hello, World!";
  static constexpr const char* kDocumentedSignature =
      "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

  TestClock clock_{kNow};
  std::unique_ptr<WebhookVerifier> verifier_ = Make(Scheme("github", kSecret), clock_);
};

TEST_F(GithubTest, AcceptsGithubsDocumentedExample) {
  WebhookHeaders headers{{"X-Hub-Signature-256", kDocumentedSignature},
                         {"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"}};
  StatusOr<VerifiedDelivery> delivery = verifier_->Verify(headers, kBody);
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  EXPECT_EQ(delivery->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
  EXPECT_EQ(delivery->replay_key, "github:" + HexEncode(Sha256(kBody)));
  EXPECT_EQ(delivery->remember_until, FromUnixMillis((kNow + 300) * 1000));
  EXPECT_FALSE(delivery->signed_at.has_value());
}

TEST_F(GithubTest, AcceptsOpensslSignaturesIncludingUpperCaseHexAndAnEmptyBody) {
  std::string body = R"({"action":"opened","number":1})";
  std::string sig = OpensslHmacHex(kSecret, body);
  EXPECT_TRUE(verifier_->Verify({{"x-hub-signature-256", "sha256=" + sig}}, body).ok());
  std::string upper = sig;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(verifier_->Verify({{"X-Hub-Signature-256", "sha256=" + upper}}, body).ok());
  EXPECT_TRUE(
      verifier_->Verify({{"X-Hub-Signature-256", "sha256=" + OpensslHmacHex(kSecret, "")}}, "")
          .ok());
}

TEST_F(GithubTest, RefusesWrongSecretAlteredBodyAndMalformedHeaders) {
  std::unique_ptr<WebhookVerifier> wrong = Make(Scheme("github", "not it"), clock_);
  WebhookHeaders headers{{"X-Hub-Signature-256", kDocumentedSignature}};
  EXPECT_EQ(Refusal(*wrong, headers, kBody),
            "github signature: the signature does not match the body (wrong secret or altered "
            "body)");
  EXPECT_THAT(Refusal(*verifier_, headers, "Hello, World?"), HasSubstr("does not match"));
  EXPECT_THAT(Refusal(*verifier_, headers, ""), HasSubstr("does not match"));
  EXPECT_EQ(Refusal(*verifier_, {}, kBody), "github signature: missing X-Hub-Signature-256 header");
  EXPECT_THAT(Refusal(*verifier_, {{"X-Hub-Signature", "sha1=0123"}}, kBody),
              HasSubstr("missing X-Hub-Signature-256"));
  EXPECT_THAT(Refusal(*verifier_,
                      {{"X-Hub-Signature-256",
                        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}},
                      kBody),
              HasSubstr("does not start with sha256="));
  EXPECT_THAT(Refusal(*verifier_, {{"X-Hub-Signature-256", "sha256=xyz"}}, kBody),
              HasSubstr("not 64 hex digits"));
  EXPECT_THAT(Refusal(*verifier_, {{"X-Hub-Signature-256", "sha256="}}, kBody),
              HasSubstr("not 64 hex digits"));
  EXPECT_THAT(
      Refusal(*verifier_,
              {{"X-Hub-Signature-256", "sha256=" + std::string(kMaxSignatureHeaderBytes, 'a')}},
              kBody),
      HasSubstr("longer than 8192 bytes"));
}

TEST_F(GithubTest, AReplayWithAnotherDeliveryIdIsStillAReplay) {
  ReplayGuard guard(clock_);
  StatusOr<VerifiedDelivery> first = verifier_->Verify(
      {{"X-Hub-Signature-256", kDocumentedSignature}, {"X-GitHub-Delivery", "one"}}, kBody);
  StatusOr<VerifiedDelivery> replay = verifier_->Verify(
      {{"X-Hub-Signature-256", kDocumentedSignature}, {"X-GitHub-Delivery", "two"}}, kBody);
  ASSERT_TRUE(first.ok() && replay.ok());
  EXPECT_TRUE(guard.Admit(first->replay_key, first->remember_until).ok());
  EXPECT_EQ(guard.Admit(replay->replay_key, replay->remember_until).code(),
            StatusCode::kAlreadyExists);
}

// ---------------------------------------------------------------------------------------------
// standard-webhooks

class StandardWebhooksTest : public ::testing::Test {
 protected:
  // The test vector of the Svix and standard-webhooks libraries.
  static constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static constexpr const char* kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  static constexpr long long kTimestamp = 1614265330;
  static constexpr const char* kBody = R"({"test": 2432232314})";
  static constexpr const char* kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

  static std::string Key() { return *Base64Decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"); }

  static WebhookHeaders Headers(std::string id, long long t, std::string signature) {
    return {{"webhook-id", std::move(id)},
            {"webhook-timestamp", std::to_string(t)},
            {"webhook-signature", std::move(signature)}};
  }
  static WebhookHeaders Documented() { return Headers(kId, kTimestamp, kSignature); }

  TestClock clock_{kTimestamp};
  std::unique_ptr<WebhookVerifier> verifier_ = Make(Scheme("standard-webhooks", kSecret), clock_);
};

TEST_F(StandardWebhooksTest, AcceptsTheDocumentedTestVector) {
  StatusOr<VerifiedDelivery> delivery = verifier_->Verify(Documented(), kBody);
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  EXPECT_EQ(delivery->replay_key, std::string("standard-webhooks:") + kId);
  EXPECT_EQ(delivery->delivery_id, kId);
  EXPECT_EQ(delivery->signed_at, FromUnixMillis(kTimestamp * 1000));
  EXPECT_EQ(delivery->remember_until, FromUnixMillis((kTimestamp + 300) * 1000));
}

TEST_F(StandardWebhooksTest, AcceptsSvixHeaderNamesAndASecretWithoutItsPrefix) {
  WebhookHeaders svix{{"svix-id", kId},
                      {"svix-timestamp", std::to_string(kTimestamp)},
                      {"svix-signature", kSignature}};
  EXPECT_TRUE(verifier_->Verify(svix, kBody).ok());
  std::unique_ptr<WebhookVerifier> bare =
      Make(Scheme("standard-webhooks", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), clock_);
  EXPECT_TRUE(bare->Verify(Documented(), kBody).ok());
}

TEST_F(StandardWebhooksTest, AcceptsOpensslSignaturesOverAnEmptyBody) {
  std::string t = std::to_string(kTimestamp);
  std::string sig = OpensslHmacBase64(Key(), std::string("msg_2.") + t + ".");
  EXPECT_TRUE(verifier_->Verify(Headers("msg_2", kTimestamp, "v1," + sig), "").ok());
}

TEST_F(StandardWebhooksTest, AcceptsAnyOfSeveralSignaturesAndIgnoresOtherVersions) {
  std::string other = OpensslHmacBase64(
      "another key", std::string(kId) + "." + std::to_string(kTimestamp) + "." + kBody);
  std::string header =
      "v1a,c29tZSBlZDI1NTE5IHNpZ25hdHVyZQ== v1," + other + "  v1,!!! " + std::string(kSignature);
  EXPECT_TRUE(verifier_->Verify(Headers(kId, kTimestamp, header), kBody).ok());
}

TEST_F(StandardWebhooksTest, RefusesWrongSecretAlteredBodyAndAlteredId) {
  std::unique_ptr<WebhookVerifier> wrong =
      Make(Scheme("standard-webhooks", "whsec_" + Base64Encode("wrong key")), clock_);
  EXPECT_EQ(Refusal(*wrong, Documented(), kBody),
            "standard-webhooks signature: no v1 signature matches the body (wrong secret or "
            "altered body)");
  EXPECT_THAT(Refusal(*verifier_, Documented(), R"({"test": 2432232315})"),
              HasSubstr("no v1 signature matches"));
  EXPECT_THAT(Refusal(*verifier_, Headers("msg_other", kTimestamp, kSignature), kBody),
              HasSubstr("no v1 signature matches"));
  // The timestamp is signed too: moving it breaks the signature before the tolerance matters.
  EXPECT_THAT(Refusal(*verifier_, Headers(kId, kTimestamp + 1, kSignature), kBody),
              HasSubstr("no v1 signature matches"));
}

TEST_F(StandardWebhooksTest, RefusesTimestampsOutsideTheTolerance) {
  clock_.SetSeconds(kTimestamp + 301);
  EXPECT_EQ(Refusal(*verifier_, Documented(), kBody),
            "standard-webhooks signature: timestamp outside the 300 s tolerance (301 s old)");
  clock_.SetSeconds(kTimestamp - 301);
  EXPECT_EQ(
      Refusal(*verifier_, Documented(), kBody),
      "standard-webhooks signature: timestamp outside the 300 s tolerance (301 s in the future)");
  clock_.SetSeconds(kTimestamp + 300);
  EXPECT_TRUE(verifier_->Verify(Documented(), kBody).ok());
}

TEST_F(StandardWebhooksTest, RefusesMalformedHeaders) {
  std::string t = std::to_string(kTimestamp);
  struct Case {
    WebhookHeaders headers;
    std::string message;
  };
  std::vector<Case> cases = {
      {{}, "standard-webhooks signature: missing webhook-id header"},
      {{{"webhook-id", kId}, {"webhook-signature", kSignature}}, "missing webhook-timestamp"},
      {{{"webhook-id", kId}, {"webhook-timestamp", t}}, "missing webhook-signature"},
      {Headers("", kTimestamp, kSignature), "malformed webhook-id header: empty"},
      {Headers(std::string(300, 'x'), kTimestamp, kSignature), "longer than 256 bytes"},
      {{{"webhook-id", kId}, {"webhook-timestamp", "soon"}, {"webhook-signature", kSignature}},
       "malformed timestamp in webhook-timestamp"},
      {Headers(kId, kTimestamp, ""), "malformed webhook-signature header: no v1 signature"},
      {Headers(kId, kTimestamp, "v2,abc"), "no v1 signature"},
      {Headers(kId, kTimestamp, "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
       "an entry has no ','"},
      {Headers(kId, kTimestamp, "v1,not-base64"), "no v1 signature matches"},
      {Headers(kId, kTimestamp, std::string(kSignature) + std::string(9000, ' ')),
       "longer than 8192 bytes"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(Refusal(*verifier_, c.headers, kBody), HasSubstr(c.message)) << c.message;
  }
  std::string many;
  for (int i = 0; i < 17; ++i) many += std::string(kSignature) + " ";
  EXPECT_THAT(Refusal(*verifier_, Headers(kId, kTimestamp, many), kBody),
              HasSubstr("too many signatures"));
}

TEST_F(StandardWebhooksTest, RefusesAMalformedSecretAtConstruction) {
  for (std::string secret : {"whsec_not base64!", "whsec_", "whsec_Z"}) {
    StatusOr<std::unique_ptr<WebhookVerifier>> verifier =
        MakeWebhookVerifier(Scheme("standard-webhooks", secret), clock_);
    EXPECT_EQ(verifier.status().code(), StatusCode::kInvalidArgument) << secret;
  }
}

TEST_F(StandardWebhooksTest, ARetryOfTheSameMessageIsAReplay) {
  ReplayGuard guard(clock_);
  StatusOr<VerifiedDelivery> first = verifier_->Verify(Documented(), kBody);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(guard.Admit(first->replay_key, first->remember_until).ok());
  std::string t = std::to_string(kTimestamp + 5);
  std::string resigned = "v1," + OpensslHmacBase64(Key(), std::string(kId) + "." + t + "." + kBody);
  StatusOr<VerifiedDelivery> again =
      verifier_->Verify(Headers(kId, kTimestamp + 5, resigned), kBody);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(guard.Admit(again->replay_key, again->remember_until).code(),
            StatusCode::kAlreadyExists);
}

// ---------------------------------------------------------------------------------------------
// hmac-sha256

class HmacSha256Test : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "generic-secret";
  static constexpr const char* kBody = R"({"order":42})";
  TestClock clock_{kNow};
};

TEST_F(HmacSha256Test, AcceptsAHexDigestInTheDefaultHeader) {
  std::unique_ptr<WebhookVerifier> verifier = Make(Scheme("hmac-sha256", kSecret), clock_);
  StatusOr<VerifiedDelivery> delivery =
      verifier->Verify({{"X-Signature", OpensslHmacHex(kSecret, kBody)}}, kBody);
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  EXPECT_EQ(delivery->replay_key, "hmac-sha256:" + HexEncode(Sha256(kBody)));
  EXPECT_EQ(delivery->remember_until, FromUnixMillis((kNow + 300) * 1000));
  EXPECT_FALSE(delivery->signed_at.has_value());
  EXPECT_THAT(Refusal(*verifier, {{"X-Signature", OpensslHmacHex("other", kBody)}}, kBody),
              HasSubstr("no signature in X-Signature matches the body"));
  EXPECT_THAT(Refusal(*verifier, {{"X-Signature", OpensslHmacHex(kSecret, kBody)}}, "{}"),
              HasSubstr("matches"));
}

TEST_F(HmacSha256Test, AcceptsABase64DigestInANamedHeader) {
  WebhookVerifierOptions options = Scheme("hmac-sha256", kSecret);
  options.signature_header = "X-Shopify-Hmac-Sha256";
  options.encoding = DigestEncoding::kBase64;
  std::unique_ptr<WebhookVerifier> verifier = Make(options, clock_);
  std::string sig = OpensslHmacBase64(kSecret, kBody);
  EXPECT_TRUE(verifier->Verify({{"x-shopify-hmac-sha256", sig}}, kBody).ok());
  EXPECT_THAT(
      Refusal(*verifier, {{"X-Shopify-Hmac-Sha256", OpensslHmacHex(kSecret, kBody)}}, kBody),
      HasSubstr("wrong encoding"));
  EXPECT_EQ(Refusal(*verifier, {{"X-Signature", sig}}, kBody),
            "hmac-sha256 signature: missing X-Shopify-Hmac-Sha256 header");
}

TEST_F(HmacSha256Test, RequiresTheConfiguredPrefixAndAcceptsSeveralSignatures) {
  WebhookVerifierOptions options = Scheme("hmac-sha256", kSecret);
  options.signature_prefix = "sha256=";
  std::unique_ptr<WebhookVerifier> verifier = Make(options, clock_);
  std::string sig = OpensslHmacHex(kSecret, kBody);
  EXPECT_TRUE(verifier->Verify({{"X-Signature", "sha256=" + sig}}, kBody).ok());
  EXPECT_EQ(Refusal(*verifier, {{"X-Signature", sig}}, kBody),
            "hmac-sha256 signature: malformed X-Signature header: no signature starting with "
            "sha256=");
  std::string old_key = "sha256=" + OpensslHmacHex("old-secret", kBody);
  EXPECT_TRUE(verifier->Verify({{"X-Signature", old_key + ", sha256=" + sig}}, kBody).ok());
  EXPECT_TRUE(verifier->Verify({{"X-Signature", "sha256=" + sig + " " + old_key}}, kBody).ok());
}

TEST_F(HmacSha256Test, SignsTheTimestampWhenATimestampHeaderIsConfigured) {
  WebhookVerifierOptions options = Scheme("hmac-sha256", kSecret);
  options.timestamp_header = "X-Timestamp";
  std::unique_ptr<WebhookVerifier> verifier = Make(options, clock_);
  auto headers = [&](long long t) {
    return WebhookHeaders{
        {"X-Timestamp", std::to_string(t)},
        {"X-Signature", OpensslHmacHex(kSecret, std::to_string(t) + "." + kBody)}};
  };
  StatusOr<VerifiedDelivery> delivery = verifier->Verify(headers(kNow - 5), kBody);
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  EXPECT_EQ(delivery->signed_at, FromUnixMillis((kNow - 5) * 1000));
  EXPECT_EQ(delivery->remember_until, FromUnixMillis((kNow - 5 + 300) * 1000));
  EXPECT_EQ(delivery->replay_key,
            "hmac-sha256:" + std::to_string(kNow - 5) + ":" + HexEncode(Sha256(kBody)));
  EXPECT_EQ(Refusal(*verifier, headers(kNow - 400), kBody),
            "hmac-sha256 signature: timestamp outside the 300 s tolerance (400 s old)");
  EXPECT_THAT(Refusal(*verifier, headers(kNow + 400), kBody), HasSubstr("in the future"));
  EXPECT_EQ(Refusal(*verifier, {{"X-Signature", OpensslHmacHex(kSecret, kBody)}}, kBody),
            "hmac-sha256 signature: missing X-Timestamp header");
  // The body alone signed is not enough once the timestamp is part of the signed content.
  WebhookHeaders unsigned_time{{"X-Timestamp", std::to_string(kNow)},
                               {"X-Signature", OpensslHmacHex(kSecret, kBody)}};
  EXPECT_THAT(Refusal(*verifier, unsigned_time, kBody), HasSubstr("matches"));
}

// ---------------------------------------------------------------------------------------------
// none and the factory

TEST(UnsignedWebhookTest, AcceptsEverythingWithoutAReplayKey) {
  TestClock clock(kNow);
  std::unique_ptr<WebhookVerifier> verifier = Make(Scheme("none", ""), clock);
  StatusOr<VerifiedDelivery> delivery = verifier->Verify({}, "anything");
  ASSERT_TRUE(delivery.ok());
  EXPECT_EQ(verifier->scheme(), "none");
  EXPECT_EQ(delivery->replay_key, "");
  ReplayGuard guard(clock);
  EXPECT_TRUE(guard.Admit(delivery->replay_key, delivery->remember_until).ok());
  EXPECT_TRUE(guard.Admit(delivery->replay_key, delivery->remember_until).ok());
}

TEST(MakeWebhookVerifierTest, BuildsEachSchemeAndRefusesBadOptions) {
  TestClock clock(kNow);
  for (const std::string& scheme : WebhookSchemes()) {
    std::string secret = scheme == "none" ? "" : "whsec_" + Base64Encode("key");
    std::unique_ptr<WebhookVerifier> verifier = Make(Scheme(scheme, secret), clock);
    ASSERT_NE(verifier, nullptr);
    EXPECT_EQ(verifier->scheme(), scheme);
  }
  EXPECT_EQ(MakeWebhookVerifier(Scheme("strpe", "s"), clock).status().message(),
            "unknown webhook scheme \"strpe\"; did you mean \"stripe\"?");
  EXPECT_EQ(MakeWebhookVerifier(Scheme("slack", "s"), clock).status().message(),
            "unknown webhook scheme \"slack\"; expected one of github, hmac-sha256, none, "
            "standard-webhooks, stripe");
  EXPECT_EQ(MakeWebhookVerifier(Scheme("github", ""), clock).status().message(),
            "github webhook needs a secret");
  WebhookVerifierOptions zero = Scheme("stripe", "s");
  zero.tolerance = Duration::zero();
  EXPECT_EQ(MakeWebhookVerifier(zero, clock).status().code(), StatusCode::kInvalidArgument);
  WebhookVerifierOptions nameless = Scheme("hmac-sha256", "s");
  nameless.signature_header = "";
  EXPECT_EQ(MakeWebhookVerifier(nameless, clock).status().code(), StatusCode::kInvalidArgument);
}

TEST(WebhookVerifierThreadsTest, OneVerifierServesManyThreads) {
  TestClock clock(kNow);
  std::unique_ptr<WebhookVerifier> verifier = Make(Scheme("stripe", "whsec_threads"), clock);
  std::string body = "{}";
  std::string t = std::to_string(kNow);
  WebhookHeaders good{
      {"Stripe-Signature", "t=" + t + ",v1=" + OpensslHmacHex("whsec_threads", t + "." + body)}};
  WebhookHeaders bad{{"Stripe-Signature", "t=" + t + ",v1=" + std::string(64, '0')}};
  std::atomic<int> accepted = 0;
  std::atomic<int> refused = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 200; ++n) {
        if (verifier->Verify(good, body).ok()) ++accepted;
        if (!verifier->Verify(bad, body).ok()) ++refused;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(accepted.load(), 800);
  EXPECT_EQ(refused.load(), 800);
}

// ---------------------------------------------------------------------------------------------
// ReplayGuard

TEST(ReplayGuardTest, RefusesAKeyUntilItExpires) {
  TestClock clock(kNow);
  ReplayGuard guard(clock);
  TimePoint until = clock.Now() + std::chrono::seconds(10);
  EXPECT_TRUE(guard.Admit("a", until).ok());
  Status replay = guard.Admit("a", until);
  EXPECT_EQ(replay.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(replay.message(), "webhook delivery already received (replay)");
  EXPECT_TRUE(guard.Admit("b", until).ok());
  clock.AdvanceMillis(10 * 1000);
  EXPECT_EQ(guard.Admit("a", until).code(), StatusCode::kAlreadyExists);
  clock.AdvanceMillis(1);
  EXPECT_TRUE(guard.Admit("a", clock.Now() + std::chrono::seconds(10)).ok());
  EXPECT_EQ(guard.size(), 1u);  // b expired and was dropped
}

TEST(ReplayGuardTest, DoesNotRecordKeysWhoseTimeHasPassed) {
  TestClock clock(kNow);
  ReplayGuard guard(clock);
  EXPECT_TRUE(guard.Admit("old", clock.Now() - std::chrono::seconds(1)).ok());
  EXPECT_EQ(guard.size(), 0u);
}

TEST(ReplayGuardTest, ForgetLetsASenderRetry) {
  TestClock clock(kNow);
  ReplayGuard guard(clock);
  TimePoint until = clock.Now() + std::chrono::minutes(5);
  ASSERT_TRUE(guard.Admit("k", until).ok());
  guard.Forget("k");
  guard.Forget("never seen");
  EXPECT_TRUE(guard.Admit("k", until).ok());
}

TEST(ReplayGuardTest, WhenFullRefusesNewKeysRatherThanForgetOldOnes) {
  TestClock clock(kNow);
  ReplayGuard guard(clock, 3);
  TimePoint soon = clock.Now() + std::chrono::seconds(1);
  TimePoint later = clock.Now() + std::chrono::seconds(60);
  ASSERT_TRUE(guard.Admit("a", soon).ok());
  ASSERT_TRUE(guard.Admit("b", later).ok());
  ASSERT_TRUE(guard.Admit("c", later).ok());
  EXPECT_EQ(guard.Admit("d", later).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(guard.Admit("a", later).code(), StatusCode::kAlreadyExists);
  clock.AdvanceMillis(1001);
  EXPECT_TRUE(guard.Admit("d", later).ok());
  EXPECT_EQ(guard.size(), 3u);
}

TEST(ReplayGuardTest, AdmitsEachKeyOnceAcrossThreads) {
  TestClock clock(kNow);
  ReplayGuard guard(clock);
  TimePoint until = clock.Now() + std::chrono::minutes(5);
  constexpr int kKeys = 1000;
  std::atomic<int> admitted = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < kKeys; ++k) {
        if (guard.Admit("key" + std::to_string(k), until).ok()) ++admitted;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), kKeys);
  EXPECT_EQ(guard.size(), static_cast<size_t>(kKeys));
}

}  // namespace
}  // namespace flowrun
