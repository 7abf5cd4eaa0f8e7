#include "server/webhooks/webhook_transform.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

WebhookConfig WithTransform(std::string name, Json data, std::string id) {
  WebhookConfig config;
  config.scheme = "none";
  config.transform_name = std::move(name);
  config.transform_data = std::move(data);
  config.transform_id = std::move(id);
  return config;
}

TEST(WebhookTransformTest, ExpressionsTemplatesAndLiterals) {
  auto transform = WebhookTransform::Compile(
      "shop", WithTransform(R"("shop/" + body.type)", "${{ body.data }}", "body.id"));
  ASSERT_TRUE(transform.ok()) << transform.status().ToString();
  auto event =
      transform->Apply(Json::parse(R"({"type":"paid","id":"e1","data":{"n":1}})"), Json::object());
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(*event, Json::parse(R"({"name":"shop/paid","data":{"n":1},"id":"e1"})"));

  auto literal = WebhookTransform::Compile(
      "x", WithTransform("shop/order", Json{{"h", "${{ headers[\"x-kind\"] }}"}}, ""));
  ASSERT_TRUE(literal.ok());
  auto second = literal->Apply(Json::object(), Json{{"x-kind", "k"}});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)["name"], "shop/order");
  EXPECT_EQ((*second)["data"], Json({{"h", "k"}}));
  EXPECT_FALSE(second->contains("id"));
}

TEST(WebhookTransformTest, DefaultMappingWithoutATransform) {
  WebhookConfig config;
  config.scheme = "none";
  auto transform = WebhookTransform::Compile("orders", config);
  ASSERT_TRUE(transform.ok());
  EXPECT_EQ(*transform->Apply(Json{{"a", 1}}, Json::object()),
            Json::parse(R"({"name":"webhook/orders","data":{"a":1}})"));
  EXPECT_EQ((*transform->Apply(Json("text"), Json::object()))["data"], Json({{"body", "text"}}));
}

TEST(WebhookTransformTest, WrongTypesAndBadExpressionsAreErrors) {
  auto bad = WebhookTransform::Compile("w", WithTransform("${{ body. }}", nullptr, ""));
  EXPECT_FALSE(bad.ok());
  auto transform =
      WebhookTransform::Compile("w", WithTransform("body.name", "${{ body.data }}", "body.id"));
  ASSERT_TRUE(transform.ok());
  EXPECT_FALSE(transform->Apply(Json{{"name", 5}}, Json::object()).ok());
  EXPECT_FALSE(transform->Apply(Json{{"name", "n"}, {"data", 5}}, Json::object()).ok());
  EXPECT_FALSE(transform->Apply(Json{{"name", "n"}, {"id", Json::array()}}, Json::object()).ok());
  auto numeric = transform->Apply(Json{{"name", "n"}, {"id", 42}}, Json::object());
  ASSERT_TRUE(numeric.ok());
  EXPECT_EQ((*numeric)["id"], "42");
}

}  // namespace
}  // namespace flowrun
