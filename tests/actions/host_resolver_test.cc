#include "actions/host_resolver.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>
#include <future>

namespace flowrun {
namespace {

using namespace std::chrono_literals;

StatusOr<std::vector<SocketAddress>> ResolveOnLoop(OutboundLoop& loop, HostResolver& resolver,
                                                   const std::string& host, SteadyTime until) {
  std::promise<StatusOr<std::vector<SocketAddress>>> result;
  std::promise<bool> returned_first;
  bool returned = false;  // loop thread only
  loop.Post([&] {
    resolver.Resolve(host, 2525, until, [&](StatusOr<std::vector<SocketAddress>> addresses) {
      EXPECT_TRUE(loop.OnLoopThread());
      returned_first.set_value(returned);
      result.set_value(std::move(addresses));
    });
    returned = true;
  });
  auto future = result.get_future();
  if (future.wait_for(60s) != std::future_status::ready) return InternalError("no answer");
  EXPECT_TRUE(returned_first.get_future().get()) << "called back before Resolve returned";
  return future.get();
}

int PortOf(const SocketAddress& address) {
  if (address.storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_port);
}

TEST(HostResolverTest, LiteralsAndNames) {
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  HostResolver resolver(loop);
  auto far = std::chrono::steady_clock::now() + 60s;
  auto v4 = ResolveOnLoop(loop, resolver, "127.0.0.1", far);
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].storage.ss_family, AF_INET);
  EXPECT_EQ(PortOf((*v4)[0]), 2525);
  auto v6 = ResolveOnLoop(loop, resolver, "::1", far);
  ASSERT_TRUE(v6.ok()) << v6.status().ToString();
  EXPECT_EQ((*v6)[0].storage.ss_family, AF_INET6);
  // A name goes through getaddrinfo_a; asked again, the answer comes from the cache.
  for (int i = 0; i < 2; ++i) {
    auto name = ResolveOnLoop(loop, resolver, "localhost", far);
    ASSERT_TRUE(name.ok()) << name.status().ToString();
    ASSERT_FALSE(name->empty());
    EXPECT_EQ(PortOf((*name)[0]), 2525);
  }
  // RFC 6761: .invalid never resolves (a machine without DNS may only time out: also retried).
  auto bad =
      ResolveOnLoop(loop, resolver, "no-such-host.invalid", std::chrono::steady_clock::now() + 20s);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsRetryable()) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("resolv"), std::string::npos) << bad.status().ToString();
  // A lookup whose time has already passed ends with kDeadlineExceeded, or with the answer when
  // that came first; either way it ends.
  auto late = ResolveOnLoop(loop, resolver, "example.invalid", std::chrono::steady_clock::now());
  EXPECT_FALSE(late.ok());
}

}  // namespace
}  // namespace flowrun
