// The tests' private PostgreSQL server (testing/postgres_server.h) stops when the test process is
// killed without running any destructor, as ctest's timeout kills it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "testing/free_port.h"
#include "testing/postgres_server.h"
#include "testing/wait_until.h"

namespace flowrun::testing {
namespace {

TEST(PostgresTestServerTest, AServerStopsWhenItsTestProcessIsKilled) {
  int ends[2];
  ASSERT_EQ(pipe(ends), 0);
  const pid_t test_process = fork();
  ASSERT_GE(test_process, 0);
  if (test_process == 0) {
    close(ends[0]);
    std::unique_ptr<PostgresServer> server = PostgresServer::Start();
    const int port = server ? server->port() : 0;
    if (write(ends[1], &port, sizeof port) != sizeof port) _exit(1);
    raise(SIGKILL);  // no destructor runs
    _exit(1);
  }
  close(ends[1]);
  int port = 0;
  ASSERT_EQ(read(ends[0], &port, sizeof port), static_cast<ssize_t>(sizeof port));
  close(ends[0]);
  int status = 0;
  ASSERT_EQ(waitpid(test_process, &status, 0), test_process);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_GT(port, 0) << "the server did not start";
  EXPECT_TRUE(WaitUntil([&] { return !LoopbackPortAccepts(port); }, std::chrono::seconds(30),
                        std::chrono::milliseconds(50)))
      << "the server on port " << port << " outlived its test process";
}

TEST(PostgresTestServerTest, TheDestructorStopsTheServerAndItsReaper) {
  std::unique_ptr<PostgresServer> server = PostgresServer::Start();
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  EXPECT_TRUE(LoopbackPortAccepts(port));
  server.reset();
  EXPECT_FALSE(LoopbackPortAccepts(port));
}

}  // namespace
}  // namespace flowrun::testing
