#include "store/node_identity.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "testing/paths.h"

namespace flowrun::store {
namespace {

using flowrun::testing::MakeTempDir;

TEST(NodeIdentityTest, AGeneratedIdIsKeptForTheNextStart) {
  const std::string dir = MakeTempDir() + "/.flowrun-node";
  std::string first;
  {
    auto identity = NodeIdentity::Acquire(dir, "");
    ASSERT_TRUE(identity.ok()) << identity.status().ToString();
    first = (*identity)->id();
    EXPECT_TRUE(IsValidNodeId(first)) << first;
  }
  auto again = NodeIdentity::Acquire(dir, "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->id(), first);
}

TEST(NodeIdentityTest, TwoLiveProcessesNeverShareAGeneratedId) {
  const std::string dir = MakeTempDir() + "/.flowrun-node";
  auto first = NodeIdentity::Acquire(dir, "");
  auto second = NodeIdentity::Acquire(dir, "");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE((*first)->id(), (*second)->id());
  // A child process holding the first slot's lock keeps its id from the parent as well.
  const std::string held_id = (*first)->id();
  first->reset();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto child = NodeIdentity::Acquire(dir, "");
    char ok = child.ok() && (*child)->id() == held_id ? 'y' : 'n';
    (void)!write(ready[1], &ok, 1);
    sleep(2);  // holds the id while the parent looks
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  EXPECT_EQ(ok, 'y');
  auto third = NodeIdentity::Acquire(dir, "");
  ASSERT_TRUE(third.ok());
  EXPECT_NE((*third)->id(), held_id);
  EXPECT_NE((*third)->id(), (*second)->id());
  int status = 0;
  waitpid(pid, &status, 0);
  close(ready[0]);
  close(ready[1]);
  // The child is gone: its id is free again.
  auto back = NodeIdentity::Acquire(dir, "");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->id(), held_id);
}

TEST(NodeIdentityTest, AnExplicitIdIsUsedAndRefusedToASecondHolder) {
  const std::string dir = MakeTempDir() + "/.flowrun-node";
  auto first = NodeIdentity::Acquire(dir, "node-1");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ((*first)->id(), "node-1");
  auto second = NodeIdentity::Acquire(dir, "node-1");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("node-1"), std::string::npos);
  auto other = NodeIdentity::Acquire(dir, "node-2");
  ASSERT_TRUE(other.ok());
  first->reset();
  EXPECT_TRUE(NodeIdentity::Acquire(dir, "node-1").ok());
}

TEST(NodeIdentityTest, HostileExplicitIdsAreRefused) {
  const std::string dir = MakeTempDir() + "/.flowrun-node";
  for (const std::string& id :
       {std::string("../../etc/passwd"), std::string("a/b"), std::string(65, 'x'),
        std::string("node 1"), std::string("nul\0id", 6), std::string("ünï")}) {
    auto identity = NodeIdentity::Acquire(dir, id);
    ASSERT_FALSE(identity.ok()) << id;
    EXPECT_EQ(identity.status().code(), StatusCode::kInvalidArgument);
  }
  // Nothing was created outside the state directory.
  EXPECT_FALSE(std::filesystem::exists(dir + "/../../etc"));
  EXPECT_TRUE(NodeIdentity::Acquire(dir, std::string(64, 'x')).ok());
}

TEST(NodeIdentityTest, TheStateDirectoryIsBesideTheStore) {
  EXPECT_EQ(NodeStateDir("sqlite:/var/lib/flowrun/flowrun.db", "/etc/flowrun"),
            "/var/lib/flowrun/.flowrun-node");
  EXPECT_EQ(NodeStateDir("/data/x.db", "/etc/flowrun"), "/data/.flowrun-node");
  EXPECT_EQ(NodeStateDir("postgres://db.example/flowrun", "/etc/flowrun"),
            "/etc/flowrun/.flowrun-node");
  EXPECT_EQ(NodeStateDir("sqlite::memory:", "/etc/flowrun"), "");
  // Without a state directory an id is still made, just not kept.
  auto identity = NodeIdentity::Acquire("", "");
  ASSERT_TRUE(identity.ok());
  EXPECT_FALSE((*identity)->id().empty());
  // An unwritable state directory is a clear error.
  auto blocked = NodeIdentity::Acquire("/proc/flowrun-node", "");
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace flowrun::store
