// Event ingest and event queries over real HTTP: POST /e/{event_key}, POST /v1/events,
// GET /v1/events[/{id}]. Bodies that are malformed, oversized, non-object or too many; keys;
// batches of 5,000; client id deduplication; hostile data stored verbatim.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "testing/api_test_server.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using testing::BodyOf;
using ::testing::HasSubstr;
using testing::InngestError;

Json EventsOf(httplib::Client& client, const std::string& query = "") {
  return BodyOf(client.Get(("/v1/events?limit=1000" + query).c_str()));
}

TEST(EventRoutesTest, OneEventIsAcknowledgedWithItsIdAndStored) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto result = client->Post("/e/any-key", R"({"name":"test/hello","data":{"name":"Ada"}})",
                             "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  Json body = BodyOf(result);
  ASSERT_EQ(body["ids"].size(), 1u);
  EXPECT_EQ(body["status"], 200);
  std::string id = body["ids"][0];

  Json event = BodyOf(client->Get(("/v1/events/" + id).c_str()));
  EXPECT_EQ(event["id"], id);
  EXPECT_EQ(event["name"], "test/hello");
  EXPECT_EQ(event["data"], Json({{"name", "Ada"}}));

  std::string run = testing::RunOfEvent(*client, "hello", id);
  Json finished = testing::WaitForRun(*client, run, {"completed"});
  EXPECT_EQ(finished["output"]["name"], "Ada");
}

TEST(EventRoutesTest, AnArrayIsIngestedInOrder) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto result = client->Post(
      "/e/k", R"([{"name":"a/one"},{"name":"a/two","data":null},{"name":"a/three","id":"x"}])",
      "application/json");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body;
  Json ids = BodyOf(result)["ids"];
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(BodyOf(client->Get(("/v1/events/" + ids[0].get<std::string>()).c_str()))["name"],
            "a/one");
  EXPECT_EQ(BodyOf(client->Get(("/v1/events/" + ids[2].get<std::string>()).c_str()))["client_id"],
            "x");
}

TEST(EventRoutesTest, FiveThousandEventsInOneRequest) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json events = Json::array();
  for (int i = 0; i < 5000; ++i) {
    events.push_back(
        {{"name", "bulk/item"}, {"data", {{"i", i}}}, {"id", "bulk-" + std::to_string(i)}});
  }
  auto result = client->Post("/e/k", events.dump(), "application/json");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body.substr(0, 300);
  Json ids = BodyOf(result)["ids"];
  ASSERT_EQ(ids.size(), 5000u);
  std::set<std::string> distinct(ids.begin(), ids.end());
  EXPECT_EQ(distinct.size(), 5000u);
  // Every one is stored: page through the events of that name.
  size_t seen = 0;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    Json body = EventsOf(*client, "&name=bulk/item" + (cursor.empty() ? "" : "&cursor=" + cursor));
    seen += body["events"].size();
    if (body["next_cursor"].is_null()) break;
    cursor = body["next_cursor"];
  }
  EXPECT_EQ(seen, 5000u);

  events.push_back({{"name", "bulk/item"}});
  auto too_many = client->Post("/e/k", events.dump(), "application/json");
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 400);
  EXPECT_THAT(InngestError(too_many), HasSubstr("at most 5000"));
}

TEST(EventRoutesTest, ClientIdsAreDeduplicated) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  const char* body = R"({"name":"test/hello","id":"order-42","data":{"name":"once"}})";
  auto first = client->Post("/e/k", body, "application/json");
  auto second = client->Post("/e/k", body, "application/json");
  ASSERT_TRUE(first && second);
  ASSERT_EQ(first->status, 200);
  ASSERT_EQ(second->status, 200);
  EXPECT_EQ(BodyOf(first)["ids"], BodyOf(second)["ids"]);
  EXPECT_EQ(EventsOf(*client, "&name=test/hello")["events"].size(), 1u);
  std::string id = BodyOf(first)["ids"][0];
  testing::RunOfEvent(*client, "hello", id);
  Json runs = BodyOf(client->Get("/v1/runs?flow=hello"));
  EXPECT_EQ(runs["runs"].size(), 1u);
}

TEST(EventRoutesTest, MalformedJsonIs400WithThePosition) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto result = client->Post("/e/k", R"({"name": "x", "data": {)", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 400);
  std::string message = InngestError(result);
  EXPECT_THAT(message, HasSubstr("malformed JSON at byte"));
  EXPECT_THAT(message, HasSubstr("line 1, column"));

  auto deep =
      client->Post("/e/k", std::string(100000, '[') + std::string(100000, ']'), "application/json");
  ASSERT_TRUE(deep);
  EXPECT_EQ(deep->status, 400);
  EXPECT_THAT(deep->body, HasSubstr("nested deeper"));

  auto binary = client->Post("/e/k", std::string("\xff\xfe\x00\x01", 4), "application/json");
  ASSERT_TRUE(binary);
  EXPECT_EQ(binary->status, 400);
  EXPECT_NO_THROW(Json::parse(binary->body));

  auto empty = client->Post("/e/k", "", "application/json");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);

  // A raw NUL byte outside a string (where the parser would stop and ignore the rest) or inside
  // one is malformed; nothing is stored.
  const std::string nul(1, '\0');
  for (const std::string& body :
       {"{\"name\":\"nul/a\"}" + nul + "{\"x\"", "{\"name\":" + nul + "\"nul/b\"}",
        "{\"name\":\"nul/" + nul + "c\"}"}) {
    auto refused = client->Post("/e/k", body, "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << refused->body;
    EXPECT_THAT(InngestError(refused), HasSubstr("raw NUL byte"));
  }
  EXPECT_EQ(EventsOf(*client, "&name=nul/a")["events"].size(), 0u);
}

TEST(EventRoutesTest, BodiesOfTheWrongShapeAre400) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  struct Case {
    const char* body;
    const char* message;
  };
  for (const Case& c : {
           Case{"42", "got number"},
           Case{"\"text\"", "got string"},
           Case{"null", "got null"},
           Case{"[]", "empty"},
           Case{"[1]", "event 0: expected an object"},
           Case{R"({"data":{}})", "`name` must be a non-empty string"},
           Case{R"({"name":""})", "`name` must be a non-empty string"},
           Case{R"({"name":7})", "`name` must be a non-empty string"},
           Case{R"({"name":"a","data":[1]})", "`data` must be an object"},
           Case{R"({"name":"a","id":5})", "`id` must be a string"},
           Case{R"({"name":"a\u0000b"})", "`name` must not contain a NUL character"},
           Case{R"({"name":"a","id":"x\u0000"})", "`id` must not contain a NUL character"},
           Case{R"({"name":"a","ts":"yesterday"})", "`ts`"},
           Case{R"({"name":"a","ts":-5})", "`ts` must be Unix milliseconds from 0"},
           Case{R"({"name":"a","ts":1e308})", "the end of the year 9999"},
           Case{R"({"name":"a","ts":253402300800000})", "the end of the year 9999"},
           Case{R"({"name":"a","ts":"10000-01-01T00:00:00Z"})", "`ts`"},
           Case{R"([{"name":"ok"},{"name":"a","data":"x"}])", "event 1"},
       }) {
    auto result = client->Post("/e/k", c.body, "application/json");
    ASSERT_TRUE(result) << c.body;
    EXPECT_EQ(result->status, 400) << c.body;
    EXPECT_THAT(InngestError(result), HasSubstr(c.message)) << c.body;
  }
  // Nothing of a refused batch is stored.
  EXPECT_EQ(EventsOf(*client, "&name=ok")["events"].size(), 0u);
}

TEST(EventRoutesTest, OversizedEventsAndBodiesAre413) {
  ApiTestServerOptions options;
  options.max_event_bytes = 4096;
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json big = {{"name", "big/one"}, {"data", {{"blob", std::string(5000, 'x')}}}};
  auto one = client->Post("/e/k", big.dump(), "application/json");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 413);
  EXPECT_THAT(InngestError(one), HasSubstr("over the limit of 4096 bytes per event"));

  Json batch = Json::array({{{"name", "small/one"}}, big});
  auto mixed = client->Post("/e/k", batch.dump(), "application/json");
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->status, 413);
  EXPECT_THAT(mixed->body, HasSubstr("event 1"));
  EXPECT_EQ(EventsOf(*client, "&name=small/one")["events"].size(), 0u);

  // The whole body is bounded too (at least 1 MiB): refused by Content-Length, unread.
  auto huge = client->Post("/e/k", std::string(3 << 20, ' '), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_THAT(InngestError(huge), HasSubstr("over the limit"));

  // The server still answers on a new connection.
  EXPECT_EQ(server.Client()->Get("/healthz")->status, 200);
}

TEST(EventRoutesTest, EventKeysAreCheckedWhenConfigured) {
  ApiTestServerOptions options;
  options.event_keys = {"key-one-0123456789"};
  options.api_tokens = {"api-token-0123456789"};
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  const char* event = R"({"name":"k/event"})";
  auto unknown = client->Post("/e/wrong-key", event, "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);
  EXPECT_EQ(InngestError(unknown), "unknown event key");
  auto known = client->Post("/e/key-one-0123456789", event, "application/json");
  ASSERT_TRUE(known);
  EXPECT_EQ(known->status, 200) << known->body;

  // /v1/events takes an API token, not an event key.
  auto anonymous = client->Post("/v1/events", event, "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto with_key =
      server.Client("key-one-0123456789")->Post("/v1/events", event, "application/json");
  ASSERT_TRUE(with_key);
  EXPECT_EQ(with_key->status, 401);
  auto with_token =
      server.Client("api-token-0123456789")->Post("/v1/events", event, "application/json");
  ASSERT_TRUE(with_token);
  EXPECT_EQ(with_token->status, 200);
  EXPECT_EQ(BodyOf(with_token)["ids"].size(), 1u);
}

TEST(EventRoutesTest, UnsupportedContentTypeIs415) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto xml = client->Post("/e/k", "<event/>", "application/xml");
  ASSERT_TRUE(xml);
  EXPECT_EQ(xml->status, 415);
  EXPECT_THAT(InngestError(xml), HasSubstr("send application/json"));
  // curl -d sends form-urlencoded; its JSON body is accepted.
  auto curl = client->Post("/e/k", R"({"name":"curl/event"})", "application/x-www-form-urlencoded");
  ASSERT_TRUE(curl);
  EXPECT_EQ(curl->status, 200);
}

TEST(EventRoutesTest, HostileDataIsStoredVerbatim) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json data = {
      {"sql", "'; DROP TABLE events; --"},
      {"quote", "Robert'); DELETE FROM runs WHERE ('1'='1"},
      {"nul", std::string("a\0b", 3)},
      {"unicode", "\xF0\x9F\x98\x80 \xE2\x80\xAE rtl"},
      {"percent", "%s %n %x ${{ secrets.API_KEY }}"},
      {"huge", std::string(900000, 'z')},
      {"nested", {{"'k'", {{"\"", "\\"}}}}},
  };
  Json event = {{"name", "hostile/data"}, {"data", data}};
  auto result = client->Post("/e/k", event.dump(), "application/json");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 200) << result->body.substr(0, 300);
  std::string id = BodyOf(result)["ids"][0];
  Json stored = BodyOf(client->Get(("/v1/events/" + id).c_str()));
  EXPECT_EQ(stored["data"], data);
  // The store still works.
  EXPECT_EQ(EventsOf(*client, "&name=hostile/data")["events"].size(), 1u);
  EXPECT_EQ(client->Get("/v1/runs")->status, 200);
}

TEST(EventRoutesTest, ListAndFetchEvents) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  for (int i = 0; i < 5; ++i) {
    client->Post("/e/k", Json{{"name", "list/e"}, {"data", {{"i", i}}}}.dump(), "application/json");
  }
  Json page = BodyOf(client->Get("/v1/events?name=list/e&limit=2"));
  ASSERT_EQ(page["events"].size(), 2u);
  EXPECT_EQ(page["events"][0]["data"]["i"], 0);
  ASSERT_TRUE(page["next_cursor"].is_string());
  Json next = BodyOf(client->Get(
      ("/v1/events?name=list/e&limit=2&cursor=" + page["next_cursor"].get<std::string>()).c_str()));
  ASSERT_EQ(next["events"].size(), 2u);
  EXPECT_EQ(next["events"][0]["data"]["i"], 2);

  // The newest first, then followed forward from the newest seq.
  Json newest = BodyOf(client->Get("/v1/events?name=list/e&limit=2&order=newest"));
  ASSERT_EQ(newest["events"].size(), 2u);
  EXPECT_EQ(newest["events"][0]["data"]["i"], 4);
  EXPECT_EQ(newest["events"][1]["data"]["i"], 3);
  ASSERT_TRUE(newest["next_cursor"].is_string());
  EXPECT_EQ(newest["next_cursor"], std::to_string(newest["events"][0]["seq"].get<int64_t>()));
  client->Post("/e/k", Json{{"name", "list/e"}, {"data", {{"i", 5}}}}.dump(), "application/json");
  Json followed = BodyOf(client->Get(
      ("/v1/events?name=list/e&cursor=" + newest["next_cursor"].get<std::string>()).c_str()));
  ASSERT_EQ(followed["events"].size(), 1u);
  EXPECT_EQ(followed["events"][0]["data"]["i"], 5);
  auto bad_order = client->Get("/v1/events?order=sideways");
  ASSERT_TRUE(bad_order);
  EXPECT_EQ(bad_order->status, 400);

  auto missing = client->Get("/v1/events/evt_missing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  for (const char* bad : {"/v1/events?limit=0", "/v1/events?limit=x", "/v1/events?limit=5000",
                          "/v1/events?cursor=abc"}) {
    auto result = client->Get(bad);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << bad;
  }
}

}  // namespace
}  // namespace flowrun
