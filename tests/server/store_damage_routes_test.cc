// Over real HTTP, against a running Runtime: a store found damaged at run time fails /readyz and
// makes intake (the event API and webhooks) answer 503 while nothing more is written into the
// file; and the built-in outbox, as GET /v1/outbox (which the dashboard's outbox page reads) and
// the journal show it, never holds a secret (raw, percent-encoded or in base64 MIME parts).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include "common/percent_encoding.h"
#include "server/webhooks/webhook_crypto.h"
#include "testing/api_test_server.h"
#include "testing/store_damage.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using testing::BodyOf;

TEST(StoreDamageRoutesTest, DamageFoundAtRunTimeFailsReadyzAndIntakeAnswers503) {
  ApiTestServerOptions options;
  WebhookConfig plain;
  plain.scheme = "none";
  plain.transform_name = R"("hook/" + body.kind)";
  options.webhooks["plain"] = plain;
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  ASSERT_EQ(client->Get("/readyz")->status, 200);
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<Json> events;
    for (int i = 0; i < 100; ++i) {
      events.push_back(Json{{"name", "test/nothing"},
                            {"data", {{"i", batch * 100 + i}, {"pad", std::string(300, 'p')}}}});
    }
    ASSERT_TRUE(server.runtime().IngestEvents(events).ok());
  }
  // Everything into the file, then damage a third of it in the middle, under the running store.
  const std::string path = server.dir() + "/flowrun.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr),
            SQLITE_OK);  // reads the schema, so the connection knows the file is in WAL mode
  int log = -1, moved = -1;
  ASSERT_EQ(sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &log, &moved),
            SQLITE_OK);
  ASSERT_EQ(log, moved);
  sqlite3_close(db);
  const int64_t pages = testing::PageCount(path);
  ASSERT_GT(pages, 30);
  testing::OverwritePages(path, pages / 3, pages / 3, /*seed=*/5);
  const std::string damaged = testing::ReadWholeFile(path);

  // Reading the events runs into the damage.
  for (int64_t after = 0; after < 2000 && !server.runtime().StoreDamaged(); after += 200) {
    (void)client->Get(("/v1/events?limit=200&cursor=" + std::to_string(after)).c_str());
  }
  ASSERT_TRUE(server.runtime().StoreDamaged());

  auto ready = client->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_NE(ready->body.find("damaged"), std::string::npos) << ready->body;
  auto event = client->Post("/v1/events", R"({"name":"test/hello","data":{"name":"x"}})",
                            "application/json");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->status, 503) << event->body;
  EXPECT_NE(event->body.find("damaged"), std::string::npos) << event->body;
  auto hook = client->Post("/webhooks/plain", R"({"kind":"ping"})", "application/json");
  ASSERT_TRUE(hook);
  EXPECT_EQ(hook->status, 503) << hook->body;
  EXPECT_EQ(client->Get("/healthz")->status, 200);  // the process is alive, just not ready
  EXPECT_EQ(testing::ReadWholeFile(path), damaged);
}

// The base64 bodies of `mime`, decoded and concatenated.
std::string DecodedBase64Parts(const std::string& mime) {
  std::string decoded, block;
  size_t start = 0;
  auto flush = [&] {
    if (auto bytes = Base64Decode(block)) decoded += *bytes + "\n";
    block.clear();
  };
  while (start < mime.size()) {
    size_t end = mime.find("\r\n", start);
    if (end == std::string::npos) end = mime.size();
    std::string line = mime.substr(start, end - start);
    start = end + 2;
    const bool base64 = line.size() >= 4 && line.find_first_not_of(
                                                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvw"
                                                "xyz0123456789+/=") == std::string::npos;
    if (base64) {
      block += line;
    } else {
      flush();
    }
  }
  flush();
  return decoded;
}

TEST(StoreDamageRoutesTest, OutboxAndJournalNeverShowASecret) {
  const std::string secret = "m@il key/42-zz";
  ApiTestServerOptions options;
  options.secrets["MAIL_KEY"] = secret;
  options.flows["mailer.yaml"] = R"yaml(id: mailer
on: {event: test/mail}
steps:
  - id: send
    email:
      to: ada@example.com
      subject: "Key ${{ secrets.MAIL_KEY }}"
      text: "Your key: ${{ secrets.MAIL_KEY }}. Link: ${{ event.data.link }}"
      html: "<p>${{ secrets.MAIL_KEY }}</p>"
)yaml";
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json body = {{"name", "test/mail"},
               {"data", {{"link", "https://x.test/?k=" + PercentEncode(secret)}}}};
  auto posted = client->Post("/v1/events", body.dump(), "application/json");
  ASSERT_TRUE(posted);
  ASSERT_EQ(posted->status, 200) << posted->body;
  const std::string event_id = BodyOf(posted)["ids"][0];
  const std::string run = testing::RunOfEvent(*client, "mailer", event_id);
  Json finished = testing::WaitForRun(*client, run, {"completed", "failed"});
  ASSERT_EQ(finished["status"], "completed") << finished.dump();

  auto outbox = client->Get("/v1/outbox");
  ASSERT_TRUE(outbox);
  ASSERT_EQ(outbox->status, 200);
  Json messages = BodyOf(outbox)["messages"];
  ASSERT_EQ(messages.size(), 1u);
  const std::string mime = messages[0]["mime"];
  const std::string decoded = DecodedBase64Parts(mime);
  EXPECT_NE(decoded.find("Your key: ***. Link: https://x.test/?k=***"), std::string::npos)
      << decoded;
  EXPECT_NE(decoded.find("<p>***</p>"), std::string::npos) << decoded;
  EXPECT_EQ(messages[0]["subject"], "Key ***");
  auto journal = client->Get(("/v1/runs/" + run).c_str());
  ASSERT_TRUE(journal);
  // Every view: the API's JSON, the MIME it carries, its decoded parts, and the run's journal.
  for (const std::string& view : {outbox->body, mime, decoded, journal->body}) {
    for (const std::string& form :
         {secret, PercentEncode(secret), std::string("key/42"), std::string("key%2F42")}) {
      EXPECT_EQ(view.find(form), std::string::npos) << form << " in " << view;
    }
  }
  // The stored row itself (what a backup or a support dump would show).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((server.dir() + "/flowrun.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT subject || mime FROM email_outbox", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  const std::string stored = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  EXPECT_EQ(stored.find(secret), std::string::npos);
  EXPECT_EQ(DecodedBase64Parts(stored).find(secret), std::string::npos);
}

}  // namespace
}  // namespace flowrun
