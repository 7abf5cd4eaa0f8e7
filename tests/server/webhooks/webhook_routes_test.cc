// POST /webhooks/{name} over real HTTP for every signature scheme: valid deliveries are ingested
// through the transform; forged, expired and replayed ones are 401 and store nothing. Valid
// signatures are computed here with OpenSSL's HMAC, independently of the verifiers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>

#include "testing/api_test_server.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using testing::BodyOf;
using testing::ErrorCode;
using ::testing::HasSubstr;

constexpr long long kNow = 1700000000;

class FixedClock final : public Clock {
 public:
  TimePoint Now() const override { return FromUnixMillis(seconds_.load() * 1000); }
  void Set(long long seconds) { seconds_.store(seconds); }

 private:
  std::atomic<long long> seconds_{kNow};
};

std::string Hmac(const std::string& key, const std::string& content) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), digest, &length);
  return std::string(reinterpret_cast<char*>(digest), length);
}

std::string Hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(n);
  return out;
}

const std::string kStripeSecret = "whsec_stripe_test_secret";
const std::string kGithubSecret = "github-secret-value";
const std::string kSvixKey = "svix-key-bytes-0123456789";
const std::string kHmacSecret = "generic-hmac-secret";

WebhookConfig Webhook(const std::string& scheme, const std::string& secret_name) {
  WebhookConfig config;
  config.scheme = scheme;
  if (!secret_name.empty()) config.secret = "${{ secrets." + secret_name + " }}";
  return config;
}

class WebhookRoutesTest : public ::testing::Test {
 protected:
  WebhookRoutesTest() {
    ApiTestServerOptions options;
    options.clock = &clock_;
    options.secrets = {{"STRIPE", kStripeSecret},
                       {"GITHUB", kGithubSecret},
                       {"SVIX", "whsec_" + Base64(kSvixKey)},
                       {"HMAC", kHmacSecret}};
    WebhookConfig stripe = Webhook("stripe", "STRIPE");
    stripe.transform_name = R"("stripe/" + body.type)";
    stripe.transform_data = "${{ body.data.object }}";
    stripe.transform_id = "body.id";
    options.webhooks["stripe"] = stripe;
    WebhookConfig github = Webhook("github", "GITHUB");
    github.transform_name = R"("github/" + headers["x-github-event"])";
    github.transform_data = "${{ body }}";
    github.transform_id = R"(headers["x-github-delivery"])";
    options.webhooks["github"] = github;
    WebhookConfig svix = Webhook("standard-webhooks", "SVIX");
    svix.transform_name = "resend/email";  // literal text, not an expression
    svix.transform_data = Json{{"type", "${{ body.type }}"}, {"to", "${{ body.data.to }}"}};
    svix.transform_id = R"(headers["webhook-id"])";
    options.webhooks["resend"] = svix;
    options.webhooks["orders"] = Webhook("hmac-sha256", "HMAC");
    WebhookConfig none = Webhook("none", "");
    none.transform_name = R"("internal/" + body.kind)";
    options.webhooks["internal"] = none;
    WebhookConfig broken = Webhook("none", "");
    broken.transform_name = "body.missing";
    options.webhooks["broken"] = broken;
    options.webhooks["clerk"] = Webhook("standard-webhooks", "CLERK_WEBHOOK_SECRET");  // not set
    server_ = std::make_unique<ApiTestServer>(options);
  }

  httplib::Result Send(const std::string& name, const std::string& body,
                       const httplib::Headers& headers) {
    return server_->Client()->Post(("/webhooks/" + name).c_str(), headers, body,
                                   "application/json");
  }

  Json EventsNamed(const std::string& name) {
    return BodyOf(server_->Client()->Get(("/v1/events?limit=1000&name=" + name).c_str()))["events"];
  }

  httplib::Headers StripeHeaders(const std::string& body, long long t,
                                 const std::string& secret = kStripeSecret) {
    std::string ts = std::to_string(t);
    return {{"Stripe-Signature", "t=" + ts + ",v1=" + Hex(Hmac(secret, ts + "." + body))}};
  }

  httplib::Headers SvixHeaders(const std::string& id, const std::string& body, long long t,
                               const std::string& key = kSvixKey) {
    std::string ts = std::to_string(t);
    return {{"webhook-id", id},
            {"webhook-timestamp", ts},
            {"webhook-signature", "v1," + Base64(Hmac(key, id + "." + ts + "." + body))}};
  }

  FixedClock clock_;
  std::unique_ptr<ApiTestServer> server_;
};

TEST_F(WebhookRoutesTest, StripeValidForgedExpiredReplayed) {
  ASSERT_TRUE(server_->ok());
  std::string body = R"({"id":"evt_1","type":"charge.succeeded","data":{"object":{"amount":420}}})";
  auto ok = Send("stripe", body, StripeHeaders(body, kNow));
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  std::string id = BodyOf(ok)["ids"][0];
  Json event = BodyOf(server_->Client()->Get(("/v1/events/" + id).c_str()));
  EXPECT_EQ(event["name"], "stripe/charge.succeeded");
  EXPECT_EQ(event["data"], Json({{"amount", 420}}));
  EXPECT_EQ(event["client_id"], "evt_1");

  auto replayed = Send("stripe", body, StripeHeaders(body, kNow));
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, 401);
  EXPECT_THAT(replayed->body, HasSubstr("replay"));

  std::string other = R"({"id":"evt_2","type":"charge.failed","data":{"object":{}}})";
  auto forged = Send("stripe", other, StripeHeaders(other, kNow, "whsec_wrong"));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  EXPECT_EQ(ErrorCode(forged), "unauthenticated");

  auto tampered = Send("stripe", other, StripeHeaders(body, kNow));
  ASSERT_TRUE(tampered);
  EXPECT_EQ(tampered->status, 401);

  auto expired = Send("stripe", other, StripeHeaders(other, kNow - 600));
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 401);
  EXPECT_THAT(expired->body, HasSubstr("tolerance"));

  auto missing = Send("stripe", other, {});
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);

  EXPECT_EQ(EventsNamed("stripe/charge.failed").size(), 0u);
  EXPECT_EQ(EventsNamed("stripe/charge.succeeded").size(), 1u);
}

TEST_F(WebhookRoutesTest, GithubValidForgedReplayed) {
  ASSERT_TRUE(server_->ok());
  std::string body = R"({"action":"opened","number":7})";
  httplib::Headers headers = {{"X-Hub-Signature-256", "sha256=" + Hex(Hmac(kGithubSecret, body))},
                              {"X-GitHub-Event", "pull_request"},
                              {"X-GitHub-Delivery", "delivery-1"}};
  auto ok = Send("github", body, headers);
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  Json events = EventsNamed("github/pull_request");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["data"]["number"], 7);
  EXPECT_EQ(events[0]["client_id"], "delivery-1");

  auto replayed = Send("github", body, headers);
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, 401);

  httplib::Headers forged = {{"X-Hub-Signature-256", "sha256=" + Hex(Hmac("guess", body))},
                             {"X-GitHub-Event", "push"}};
  auto result = Send("github", R"({"forged":true})", forged);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 401);
  EXPECT_EQ(EventsNamed("github/push").size(), 0u);
}

TEST_F(WebhookRoutesTest, StandardWebhooksValidForgedExpiredReplayed) {
  ASSERT_TRUE(server_->ok());
  std::string body = R"({"type":"email.sent","data":{"to":"a@example.com"}})";
  auto ok = Send("resend", body, SvixHeaders("msg_1", body, kNow));
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  Json events = EventsNamed("resend/email");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["data"], Json({{"type", "email.sent"}, {"to", "a@example.com"}}));
  EXPECT_EQ(events[0]["client_id"], "msg_1");

  // The sender's retry of the same message, even re-signed later, is a replay.
  clock_.Set(kNow + 30);
  auto retry = Send("resend", body, SvixHeaders("msg_1", body, kNow + 30));
  ASSERT_TRUE(retry);
  EXPECT_EQ(retry->status, 401);

  auto forged = Send("resend", body, SvixHeaders("msg_2", body, kNow + 30, "other-key-000000"));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);

  auto expired = Send("resend", body, SvixHeaders("msg_3", body, kNow - 1000));
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 401);
  EXPECT_EQ(EventsNamed("resend/email").size(), 1u);
}

// A webhook whose secret is not set is not ready: 503 with Retry-After, so the sender retries
// once the secret is set, and nothing is stored. The other webhooks serve.
TEST_F(WebhookRoutesTest, AWebhookWhoseSecretIsNotSetAnswers503) {
  ASSERT_TRUE(server_->ok());
  std::string body = R"({"type":"user.created","data":{"id":"user_1"}})";
  auto refused = Send("clerk", body, SvixHeaders("msg_1", body, kNow));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->get_header_value("Retry-After"), "60");
  EXPECT_THAT(BodyOf(refused)["error"]["message"].get<std::string>(),
              HasSubstr("webhook \"clerk\" is not ready: its secret is not set"));
  EXPECT_EQ(BodyOf(server_->Client()->Get("/v1/events?limit=10"))["events"].size(), 0u);
  auto other = Send("resend", body, SvixHeaders("msg_2", body, kNow));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
}

TEST_F(WebhookRoutesTest, GenericHmacValidForgedReplayed) {
  ASSERT_TRUE(server_->ok());
  std::string body = R"({"order":42})";
  auto ok = Send("orders", body, {{"X-Signature", Hex(Hmac(kHmacSecret, body))}});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  // Without a transform: webhook/<name> with the body as data.
  Json events = EventsNamed("webhook/orders");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["data"], Json({{"order", 42}}));

  auto replayed = Send("orders", body, {{"X-Signature", Hex(Hmac(kHmacSecret, body))}});
  ASSERT_TRUE(replayed);
  EXPECT_EQ(replayed->status, 401);
  auto forged = Send("orders", R"({"order":43})", {{"X-Signature", Hex(Hmac("x", "y"))}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  EXPECT_EQ(EventsNamed("webhook/orders").size(), 1u);
}

TEST_F(WebhookRoutesTest, NoneSchemeTransformAndErrors) {
  ASSERT_TRUE(server_->ok());
  auto ok = Send("internal", R"({"kind":"ping","n":1})", {});
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(EventsNamed("internal/ping").size(), 1u);

  auto unknown = Send("nope", "{}", {});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  auto malformed = Send("internal", "{not json", {});
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);

  // A transform that yields no name is the webhook's fault: 422, and nothing is stored.
  auto broken = Send("broken", R"({"a":1})", {});
  ASSERT_TRUE(broken);
  EXPECT_EQ(broken->status, 422);
  EXPECT_EQ(ErrorCode(broken), "unprocessable_entity");
  EXPECT_THAT(broken->body, HasSubstr("transform.name"));
}

TEST_F(WebhookRoutesTest, AFailedTransformDoesNotBurnTheReplayKey) {
  ASSERT_TRUE(server_->ok());
  // A Stripe delivery whose body lacks `type` fails the transform (name is "stripe/" + null).
  std::string body = R"({"id":"evt_9","data":{"object":{}}})";
  auto first = Send("stripe", body, StripeHeaders(body, kNow));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 422) << first->body;
  // Its retry is judged again, not refused as a replay.
  auto second = Send("stripe", body, StripeHeaders(body, kNow));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 422);
}

}  // namespace
}  // namespace flowrun
