#include "server/api_router.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

using Router = ApiRouter<int>;

TEST(ApiRouterTest, MatchesLiteralsParametersAndGreedyParameters) {
  auto params = Router::MatchPattern("/v1/runs/{id}/cancel", "/v1/runs/run_1/cancel");
  ASSERT_TRUE(params.has_value());
  EXPECT_EQ(params->at("id"), "run_1");
  EXPECT_FALSE(Router::MatchPattern("/v1/runs/{id}", "/v1/runs/").has_value());
  EXPECT_FALSE(Router::MatchPattern("/v1/runs/{id}", "/v1/runs/a/b").has_value());
  auto flow = Router::MatchPattern("/v1/flows/{id*}/invoke", "/v1/flows/team/a/invoke");
  ASSERT_TRUE(flow.has_value());
  EXPECT_EQ(flow->at("id"), "team/a");
  EXPECT_FALSE(Router::MatchPattern("/v1/flows/{id*}/invoke", "/v1/flows/invoke").has_value());
  EXPECT_FALSE(Router::MatchPattern("/v1/flows/{id*}", "/v1/flows/a//b").has_value());
  EXPECT_TRUE(Router::MatchPattern("/", "/").has_value());
}

TEST(ApiRouterTest, FindReportsAllowedMethodsForAKnownPath) {
  Router router;
  router.Add("GET", "/v1/runs", RouteAccess::kApiToken, 1);
  router.Add("POST", "/v1/runs/{id}/cancel", RouteAccess::kApiToken, 2);
  router.Add("GET", "/v1/flows/{id*}", RouteAccess::kApiToken, 3);
  router.Add("POST", "/v1/flows/{id*}/invoke", RouteAccess::kApiToken, 4);
  EXPECT_EQ(router.Find("GET", "/v1/runs").route->handler, 1);
  EXPECT_EQ(router.Find("HEAD", "/v1/runs").route->handler, 1);
  auto wrong = router.Find("DELETE", "/v1/runs");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_EQ(wrong.allowed_methods, std::vector<std::string>{"GET"});
  EXPECT_EQ(router.Find("POST", "/v1/flows/a/b/invoke").route->handler, 4);
  EXPECT_EQ(router.Find("GET", "/v1/flows/a/b").route->handler, 3);
  auto missing = router.Find("GET", "/nothing");
  EXPECT_EQ(missing.route, nullptr);
  EXPECT_TRUE(missing.allowed_methods.empty());
}

}  // namespace
}  // namespace flowrun
