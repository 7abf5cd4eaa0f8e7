// GateHolder: holds a SqliteWriterGate from a thread of its own until Release, for the tests of
// the gate and of the SQLite `db` target (the gate is a mutex: the thread that entered is the one
// that leaves).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "actions/db/sqlite_writer_gate.h"

namespace flowrun::testing {

class GateHolder {
 public:
  explicit GateHolder(SqliteWriterGate& gate)
      : thread_([this, &gate] {
          EXPECT_TRUE(gate.Enter(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
          held_.set_value();
          release_.get_future().wait();
          gate.Leave();
        }) {
    held_.get_future().wait();
  }
  ~GateHolder() { Release(); }
  void Release() {
    if (!thread_.joinable()) return;
    release_.set_value();
    thread_.join();
  }

 private:
  std::promise<void> held_;
  std::promise<void> release_;
  std::thread thread_;  // after the promises, which it uses
};

}  // namespace flowrun::testing
