// The store kinds that store tests run against, parametrized: the same contract holds for each.
// SQLite runs on a fresh file per test; PostgreSQL on a fresh database of the private PostgreSQL
// 15 server that testing/postgres_server.h starts once per test binary.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/simulated_clock.h"
#include "store/pg_connection.h"
#include "store/store_factory.h"
#include "testing/paths.h"
#include "testing/postgres_server.h"

namespace flowrun::store {

enum class StoreKind { kSqlite, kPostgres };

inline std::vector<StoreKind> AllStoreKinds() { return {StoreKind::kSqlite, StoreKind::kPostgres}; }

inline std::string_view StoreKindName(StoreKind kind) {
  switch (kind) {
    case StoreKind::kSqlite:
      return "Sqlite";
    case StoreKind::kPostgres:
      return "Postgres";
  }
  return "Unknown";
}

// The test binary's PostgreSQL server, started on first use and stopped at the process exit;
// null when it could not start (a test failure is recorded).
inline flowrun::testing::PostgresServer* SharedPostgresServer() {
  static std::unique_ptr<flowrun::testing::PostgresServer> server =
      flowrun::testing::PostgresServer::Start();
  return server.get();
}

// A fresh, empty database on the shared server; its URL, or "" after a recorded failure.
inline std::string FreshPostgresDatabase() {
  static std::atomic<int> next{0};
  flowrun::testing::PostgresServer* server = SharedPostgresServer();
  if (!server) return "";
  auto admin = PgConnection::Open(server->Url(), "test setup");
  EXPECT_TRUE(admin.ok()) << admin.status().ToString();
  if (!admin.ok()) return "";
  const std::string name = "store_" + std::to_string(getpid()) + "_" + std::to_string(next++);
  Status created = (*admin)->ExecScript("CREATE DATABASE " + name);
  EXPECT_TRUE(created.ok()) << created.ToString();
  if (!created.ok()) return "";
  return "postgresql://postgres@127.0.0.1:" + std::to_string(server->port()) + "/" + name;
}

// A connection to a fresh, empty database on the shared server, or null after a recorded failure.
inline std::unique_ptr<PgConnection> FreshPostgresConnection() {
  const std::string url = FreshPostgresDatabase();
  if (url.empty()) return nullptr;
  auto db = PgConnection::Open(url, "test");
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  if (!db.ok()) return nullptr;
  return std::move(*db);
}

// One test's store: its URL, and fresh instances on it.
class StoreBackend {
 public:
  // Makes an empty store of `kind`; false (with a test failure recorded) when it cannot.
  bool Prepare(StoreKind kind) {
    kind_ = kind;
    if (kind == StoreKind::kPostgres) {
      url_ = FreshPostgresDatabase();
      return !url_.empty();
    }
    url_ = "sqlite:" + flowrun::testing::MakeTempDir() + "/store.db";
    return true;
  }
  StoreKind kind() const { return kind_; }
  const std::string& url() const { return url_; }
  // A new instance on the store (a node of its own); null after a recorded failure.
  std::unique_ptr<Store> Open(const Clock* clock) {
    auto opened = OpenStore(url_, {.clock = clock, .open_outbox = false});
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (!opened.ok()) return nullptr;
    return std::move(opened->store);
  }
  // The store with its outbox and wake listener.
  StatusOr<OpenedStore> OpenAll(const Clock* clock) {
    return OpenStore(url_, {.clock = clock, .open_outbox = true});
  }

 private:
  StoreKind kind_ = StoreKind::kSqlite;
  std::string url_;
};

// A test parametrized by store kind, on one fresh store of that kind opened at SetUp, on a
// simulated clock.
class StoreKindTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(backend_.Prepare(GetParam()));
    store_ = backend_.Open(&clock_);
    ASSERT_NE(store_, nullptr);
  }

  StoreBackend backend_;
  SimulatedClock clock_;
  std::unique_ptr<Store> store_;
};

}  // namespace flowrun::store
