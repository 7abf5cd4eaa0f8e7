#include "actions/sqlite_writer_gate.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "testing/paths.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

void AwaitWaiters(SqliteWriterGate& gate, size_t count) {
  while (gate.TEST_waiters() != count) std::this_thread::yield();
}

TEST(SqliteWriterGateTest, OneGatePerFileHoweverSpelled) {
  std::string dir = testing::MakeTempDir();
  auto a = SqliteWriterGate::ForFile(dir + "/app.db");
  EXPECT_EQ(SqliteWriterGate::ForFile(dir + "/./app.db"), a);
  EXPECT_EQ(SqliteWriterGate::ForFile(dir + "/sub/../app.db"), a);
  EXPECT_NE(SqliteWriterGate::ForFile(dir + "/other.db"), a);
}

TEST(SqliteWriterGateTest, AdmitsWaitersInArrivalOrder) {
  SqliteWriterGate gate;
  ASSERT_TRUE(gate.Enter(SteadyClock::now() + 10s));
  std::mutex mu;
  std::vector<int> order;
  auto writer = [&](int id) {
    ASSERT_TRUE(gate.Enter(SteadyClock::now() + 10s));
    {
      std::lock_guard lock(mu);
      order.push_back(id);
    }
    gate.Leave();
  };
  std::vector<std::thread> threads;
  for (int id = 1; id <= 3; ++id) {
    threads.emplace_back(writer, id);
    AwaitWaiters(gate, id);
  }
  gate.Leave();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_TRUE(gate.Enter(SteadyClock::now()));  // open again
  gate.Leave();
}

TEST(SqliteWriterGateTest, GivesUpAtTheDeadlineAndPassesTheTurnOn) {
  SqliteWriterGate gate;
  ASSERT_TRUE(gate.Enter(SteadyClock::now() + 10s));
  auto started = SteadyClock::now();
  EXPECT_FALSE(gate.Enter(started + 50ms));
  EXPECT_GE(SteadyClock::now() - started, 50ms);
  EXPECT_EQ(gate.TEST_waiters(), 0u);

  // A waiter that gave up leaves the queue; the next one still gets the turn.
  bool patient_entered = false;
  std::thread impatient([&] { EXPECT_FALSE(gate.Enter(SteadyClock::now() + 20ms)); });
  AwaitWaiters(gate, 1);
  std::thread patient([&] {
    patient_entered = gate.Enter(SteadyClock::now() + 10s);
    gate.Leave();
  });
  impatient.join();
  AwaitWaiters(gate, 1);
  gate.Leave();
  patient.join();
  EXPECT_TRUE(patient_entered);
}

}  // namespace
}  // namespace flowrun
