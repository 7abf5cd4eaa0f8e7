#include "actions/db/sqlite_writer_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "testing/gate_holder.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

using testing::GateHolder;

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

TEST(SqliteWriterGateTest, OneWriterAtATimeAndEveryWaiterGetsATurn) {
  SqliteWriterGate gate;
  ASSERT_TRUE(gate.Enter(SteadyClock::now() + 10s));
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<int> turns{0};
  auto writer = [&] {
    ASSERT_TRUE(gate.Enter(SteadyClock::now() + 10s));
    int now_inside = ++inside;
    if (now_inside > most_inside) most_inside = now_inside;
    --inside;
    ++turns;
    gate.Leave();
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(writer);
  AwaitWaiters(gate, 3);
  EXPECT_EQ(turns.load(), 0);  // all three wait while the gate is held
  gate.Leave();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(turns.load(), 3);
  EXPECT_EQ(most_inside.load(), 1);
  EXPECT_TRUE(gate.Enter(SteadyClock::now()));  // open again
  gate.Leave();
}

TEST(SqliteWriterGateTest, GivesUpAtTheDeadlineAndPassesTheTurnOn) {
  SqliteWriterGate gate;
  GateHolder holder(gate);
  auto started = SteadyClock::now();
  EXPECT_FALSE(gate.Enter(started + 50ms));
  EXPECT_GE(SteadyClock::now() - started, 50ms);
  EXPECT_EQ(gate.TEST_waiters(), 0u);

  // A waiter that gave up takes nothing with it; the next one still gets its turn.
  bool patient_entered = false;
  std::thread impatient([&] { EXPECT_FALSE(gate.Enter(SteadyClock::now() + 20ms)); });
  impatient.join();
  std::thread patient([&] {
    patient_entered = gate.Enter(SteadyClock::now() + 10s);
    if (patient_entered) gate.Leave();
  });
  AwaitWaiters(gate, 1);
  holder.Release();
  patient.join();
  EXPECT_TRUE(patient_entered);
}

}  // namespace
}  // namespace flowrun
