#include "common/idle_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace flowrun {
namespace {

struct Counted {
  explicit Counted(int id, std::atomic<int>* destroyed) : id(id), destroyed(destroyed) {}
  ~Counted() { ++*destroyed; }
  int id;
  std::atomic<int>* destroyed;
};

TEST(IdlePoolTest, HandsBackTheMostRecentlyKeptAndDestroysWhatDoesNotFit) {
  std::atomic<int> destroyed{0};
  IdlePool<Counted> pool(2);
  EXPECT_EQ(pool.Take(), nullptr);
  pool.Keep(std::make_unique<Counted>(1, &destroyed));
  pool.Keep(std::make_unique<Counted>(2, &destroyed));
  pool.Keep(std::make_unique<Counted>(3, &destroyed));  // over the bound
  EXPECT_EQ(destroyed.load(), 1);
  EXPECT_EQ(pool.size(), 2u);
  std::unique_ptr<Counted> warmest = pool.Take();
  ASSERT_NE(warmest, nullptr);
  EXPECT_EQ(warmest->id, 2);
  EXPECT_EQ(pool.Take()->id, 1);
  EXPECT_EQ(pool.Take(), nullptr);
  EXPECT_EQ(destroyed.load(), 2);  // the one taken last was destroyed by the expression
}

TEST(IdlePoolTest, ManyThreadsNeverShareAnObject) {
  std::atomic<int> destroyed{0};
  IdlePool<Counted> pool(4);
  std::atomic<int> created{0};
  std::vector<std::atomic<int>> in_use(64);
  std::atomic<int> shared{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        std::unique_ptr<Counted> object = pool.Take();
        if (!object) {
          int id = created++;
          if (id >= 64) return;
          object = std::make_unique<Counted>(id, &destroyed);
        }
        if (in_use[object->id]++ != 0) ++shared;
        --in_use[object->id];
        pool.Keep(std::move(object));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(shared.load(), 0);
  EXPECT_LE(pool.size(), 4u);
  EXPECT_EQ(created.load() - destroyed.load(), static_cast<int>(pool.size()));
}

}  // namespace
}  // namespace flowrun
