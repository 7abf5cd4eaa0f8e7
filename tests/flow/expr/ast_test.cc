#include "flow/expr/ast.h"

#include <gtest/gtest.h>

#include "flow/expr/expr_parser.h"

namespace flowrun::expr {
namespace {

std::unique_ptr<Node> Tree(std::string_view source) {
  auto result = ParseTree(source);
  if (auto* e = std::get_if<ParseError>(&result)) {
    ADD_FAILURE() << source << ": " << e->message;
    return nullptr;
  }
  return std::move(std::get<std::unique_ptr<Node>>(result));
}

using Path = std::vector<std::string>;

TEST(AstTest, StaticPath) {
  EXPECT_EQ(StaticPath(*Tree("async.data[\"id\"]")), (Path{"async", "data", "id"}));
  EXPECT_EQ(StaticPath(*Tree("event")), (Path{"event"}));
  EXPECT_FALSE(StaticPath(*Tree("event.data[0]")).has_value());
  EXPECT_FALSE(StaticPath(*Tree("event.data[x]")).has_value());
  EXPECT_FALSE(StaticPath(*Tree("size(x)")).has_value());
  EXPECT_FALSE(StaticPath(*Tree("1")).has_value());
}

TEST(AstTest, ReferencesHaveLongestStaticPrefix) {
  auto root = Tree(R"(steps.get-user.output.body["email"] + event.data[x].y)");
  std::vector<Reference> refs = CollectReferences(*root);
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs[0].path, (Path{"steps", "get-user", "output", "body", "email"}));
  EXPECT_EQ(refs[0].offset, 0u);
  EXPECT_EQ(refs[1].path, (Path{"event", "data"}));
  EXPECT_EQ(refs[1].offset, 38u);
  EXPECT_EQ(refs[2].path, (Path{"x"}));
  EXPECT_EQ(refs[2].offset, 49u);
}

TEST(AstTest, ReferencesInsideCallsAndLiterals) {
  auto root = Tree("lower(a.b) == [c, {\"k\": d.e}][0] ? vars.x : run.id");
  std::vector<Reference> refs = CollectReferences(*root);
  std::vector<Path> paths;
  for (const Reference& r : refs) paths.push_back(r.path);
  EXPECT_EQ(paths,
            (std::vector<Path>{{"a", "b"}, {"c"}, {"d", "e"}, {"vars", "x"}, {"run", "id"}}));
}

TEST(AstTest, MethodCallReceiverIsAReference) {
  auto root = Tree("event.data.name.lower()");
  std::vector<Reference> refs = CollectReferences(*root);
  ASSERT_EQ(refs.size(), 1u);
  EXPECT_EQ(refs[0].path, (Path{"event", "data", "name"}));
}

TEST(AstTest, Calls) {
  auto root = Tree("size(x) + size(trim(y)) > 0 && now() > timestamp(z)");
  std::vector<Call> calls = CollectCalls(*root);
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(calls[0].name, "size");
  EXPECT_EQ(calls[0].arity, 1u);
  EXPECT_EQ(calls[0].offset, 0u);
  EXPECT_EQ(calls[1].name, "size");
  EXPECT_EQ(calls[2].name, "trim");
  EXPECT_EQ(calls[2].offset, 15u);
  EXPECT_EQ(calls[3].name, "now");
  EXPECT_EQ(calls[3].arity, 0u);
  EXPECT_EQ(calls[4].name, "timestamp");
}

TEST(AstTest, OperatorSymbols) {
  EXPECT_EQ(OperatorSymbol(Op::kAdd), "+");
  EXPECT_EQ(OperatorSymbol(Op::kIn), "in");
  EXPECT_EQ(OperatorSymbol(Op::kCoalesce), "??");
  EXPECT_EQ(OperatorSymbol(Op::kGreaterEqual), ">=");
}

}  // namespace
}  // namespace flowrun::expr
