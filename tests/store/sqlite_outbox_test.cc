#include "store/sqlite_outbox.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "store/sqlite_store.h"
#include "testing/paths.h"

namespace flowrun::store {
namespace {

OutboxMessage Message(const std::string& id, const std::string& subject) {
  OutboxMessage m;
  m.message_id = "<" + id + "@flowrun>";
  m.run_id = "run_1";
  m.step_key = "send";
  m.from = "flowrun@localhost";
  m.recipients = {"a@example.com", "b@example.com"};
  m.subject = subject;
  m.mime = "Subject: " + subject + "\r\n\r\nhello\r\n";
  m.created_at = FromUnixMillis(1700000000000);
  return m;
}

TEST(SqliteOutboxTest, PutIsIdempotentAndListIsNewestFirst) {
  std::string path = testing::MakeTempDir() + "/flowrun.db";
  auto outbox = SqliteOutbox::Open(path);
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  ASSERT_TRUE((*outbox)->Put(Message("one", "first")).ok());
  ASSERT_TRUE((*outbox)->Put(Message("two", "second")).ok());
  ASSERT_TRUE((*outbox)->Put(Message("one", "first again")).ok());

  auto listed = (*outbox)->List(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].subject, "second");
  EXPECT_EQ((*listed)[1].subject, "first");
  EXPECT_EQ((*listed)[1].recipients, (std::vector<std::string>{"a@example.com", "b@example.com"}));
  EXPECT_EQ((*listed)[1].created_at, FromUnixMillis(1700000000000));
  EXPECT_EQ((*listed)[1].mime, Message("one", "first").mime);

  auto limited = (*outbox)->List(1);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->size(), 1u);
}

TEST(SqliteOutboxTest, SurvivesReopenInTheStoreFile) {
  std::string path = testing::MakeTempDir() + "/flowrun.db";
  {
    auto store = SqliteStore::Open({.path = path});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto outbox = SqliteOutbox::Open(path);
    ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
    ASSERT_TRUE((*outbox)->Put(Message("kept", "kept")).ok());
  }
  // The store still opens the file with the outbox table in it, and the message is there.
  auto store = SqliteStore::Open({.path = path});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto outbox = SqliteOutbox::Open(path);
  ASSERT_TRUE(outbox.ok());
  auto listed = (*outbox)->List(10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].message_id, "<kept@flowrun>");
}

TEST(SqliteOutboxTest, ConcurrentPutsKeepEveryMessage) {
  std::string path = testing::MakeTempDir() + "/flowrun.db";
  auto outbox = SqliteOutbox::Open(path);
  ASSERT_TRUE(outbox.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        EXPECT_TRUE((*outbox)->Put(Message(std::to_string(t) + "-" + std::to_string(i), "m")).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto listed = (*outbox)->List(1000);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 100u);
}

TEST(SqliteOutboxTest, PruneDeletesMessagesOlderThanTheCutoffOldestFirst) {
  const std::string path = testing::MakeTempDir() + "/flowrun.db";
  auto outbox = SqliteOutbox::Open(path);
  ASSERT_TRUE(outbox.ok()) << outbox.status().ToString();
  const TimePoint base = FromUnixMillis(1700000000000);
  for (int i = 0; i < 5; ++i) {
    OutboxMessage m = Message("m" + std::to_string(i), "s");
    m.created_at = base + std::chrono::hours(i);
    ASSERT_TRUE((*outbox)->Put(m).ok());
  }
  auto pruned = (*outbox)->Prune(base + std::chrono::hours(3), 2);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 2);
  auto rest = (*outbox)->Prune(base + std::chrono::hours(3), 100);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 1);
  auto left = (*outbox)->List(10);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 2u);
  EXPECT_EQ((*left)[0].message_id, "<m4@flowrun>");
  EXPECT_EQ((*left)[1].message_id, "<m3@flowrun>");
}

TEST(SqliteOutboxTest, InMemoryOutbox) {
  auto outbox = SqliteOutbox::Open(":memory:");
  ASSERT_TRUE(outbox.ok());
  ASSERT_TRUE((*outbox)->Put(Message("m", "memory")).ok());
  auto listed = (*outbox)->List(10);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 1u);
}

TEST(SqliteOutboxTest, RefusesAFileThatIsNotADatabase) {
  std::string path = testing::MakeTempDir() + "/garbage.db";
  {
    std::ofstream out(path);
    out << std::string(8192, 'x');
  }
  auto outbox = SqliteOutbox::Open(path);
  ASSERT_FALSE(outbox.ok());
  EXPECT_EQ(outbox.status().code(), StatusCode::kDataLoss) << outbox.status().ToString();
}

}  // namespace
}  // namespace flowrun::store
