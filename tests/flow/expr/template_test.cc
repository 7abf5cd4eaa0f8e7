#include "flow/expr/template.h"

#include <gtest/gtest.h>

namespace flowrun::expr {
namespace {

Template MustParse(std::string_view text) {
  auto parsed = Template::Parse(text);
  if (auto* e = std::get_if<ParseError>(&parsed)) {
    ADD_FAILURE() << text << ": " << e->message;
    return std::get<Template>(Template::Parse(""));
  }
  return std::move(std::get<Template>(parsed));
}

ParseError MustFail(std::string_view text) {
  auto parsed = Template::Parse(text);
  if (!std::holds_alternative<ParseError>(parsed)) {
    ADD_FAILURE() << text << " parsed";
    return {};
  }
  return std::get<ParseError>(parsed);
}

class TemplateTest : public ::testing::Test {
 protected:
  Json Render(std::string_view text) {
    EvalContext context{.scope = &scope_};
    StatusOr<Json> r = MustParse(text).Render(context);
    EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
    return r.ok() ? *r : Json("<error>");
  }
  Json scope_ = Json::parse(R"({
    "event": {"data": {"clerkId": "c_1", "n": 3, "tags": ["a", "b"], "ok": true, "none": null}},
    "steps": {"get-user": {"output": {"body": {"email": "u@x.io", "first_name": "Ada"}}}}
  })");
};

TEST_F(TemplateTest, Literal) {
  Template t = MustParse("plain text");
  EXPECT_TRUE(t.is_literal());
  EXPECT_FALSE(t.is_whole_value());
  EXPECT_EQ(Render("plain text"), "plain text");
  EXPECT_EQ(Render(""), "");
  EXPECT_EQ(Render("costs $5 {{ not a template }}"), "costs $5 {{ not a template }}");
}

TEST_F(TemplateTest, WholeValueKeepsType) {
  EXPECT_TRUE(MustParse("${{ event.data.n }}").is_whole_value());
  EXPECT_TRUE(MustParse("  ${{event.data.n}}\n").is_whole_value());
  EXPECT_EQ(Render("${{ event.data.n }}"), 3);
  EXPECT_EQ(Render(" ${{ event.data.tags }} "), Json({"a", "b"}));
  EXPECT_EQ(Render("${{ event.data.ok }}"), true);
  EXPECT_EQ(Render("${{ event.data.none }}"), nullptr);
  EXPECT_EQ(Render("${{ {'a': 1} }}"), Json({{"a", 1}}));
}

TEST_F(TemplateTest, Interpolation) {
  EXPECT_FALSE(MustParse("x ${{ 1 }}").is_whole_value());
  EXPECT_EQ(Render("https://api.example.com/users/${{ event.data.clerkId }}"),
            "https://api.example.com/users/c_1");
  EXPECT_EQ(Render("Hi ${{ steps.get-user.output.body.first_name }}, n=${{ event.data.n }}"),
            "Hi Ada, n=3");
  EXPECT_EQ(Render("${{ event.data.n }}${{ event.data.n }}"), "33");
  EXPECT_EQ(Render("[${{ event.data.none }}]"), "[]");
  EXPECT_EQ(Render("tags: ${{ event.data.tags }}"), "tags: [\"a\",\"b\"]");
  EXPECT_EQ(Render("ok=${{ event.data.ok }}"), "ok=true");
  EXPECT_EQ(Render("${{ '}}' }} and ${{ \"}}\" + 'x' }}"), "}} and }}x");
}

TEST_F(TemplateTest, Escaping) {
  Template t = MustParse("write $${{ x }} to show it");
  EXPECT_TRUE(t.is_literal());
  EXPECT_EQ(Render("write $${{ x }} to show it"), "write ${{ x }} to show it");
  EXPECT_EQ(Render("$${{ a }} and ${{ event.data.n }}"), "${{ a }} and 3");
}

TEST_F(TemplateTest, ExpressionsAndOffsets) {
  Template t = MustParse("a ${{ event.data.n }} b ${{x}}");
  ASSERT_EQ(t.expressions().size(), 2u);
  EXPECT_EQ(t.expressions()[0].offset, 6u);
  EXPECT_EQ(t.expressions()[0].expression.source(), "event.data.n");
  EXPECT_EQ(t.expressions()[1].offset, 27u);
  EXPECT_EQ(t.expressions()[1].expression.source(), "x");
}

TEST_F(TemplateTest, Errors) {
  ParseError e = MustFail("Hello ${{ event.data.n");
  EXPECT_EQ(e.offset, 6u);
  EXPECT_NE(e.message.find("unterminated"), std::string::npos);
  EXPECT_EQ(MustFail("a ${{ 'x }}").offset, 2u);  // the quote swallows the closing braces
  EXPECT_EQ(MustFail("x ${{ }}").offset, 2u);
  e = MustFail("x ${{ 1 + }}");
  EXPECT_EQ(e.offset, 9u);  // the end of "1 +", where an operand is missing
  e = MustFail("${{ sise(x) }}");
  EXPECT_EQ(e.offset, 4u);
  EXPECT_EQ(e.kind, ParseError::Kind::kUnknownFunction);
}

TEST_F(TemplateTest, RenderErrorsNameTheExpression) {
  EvalContext context{.scope = &scope_};
  StatusOr<Json> r = MustParse("n: ${{ event.data.n + 'x' }}").Render(context);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "${{ event.data.n + 'x' }}: operator \"+\" cannot add number and string");
}

TEST_F(TemplateTest, ValueTemplate) {
  Json value = Json::parse(R"({
    "url": "https://x/${{ event.data.clerkId }}",
    "params": {"clerk": "${{ event.data.clerkId }}", "n": "${{ event.data.n }}", "fixed": 1},
    "list": ["${{ event.data.ok }}", "plain", "$${{ kept }}"],
    "a/b": {"~c": "${{ event.data.tags }}"}
  })");
  auto compiled = ValueTemplate::Compile(value);
  ASSERT_TRUE(std::holds_alternative<ValueTemplate>(compiled));
  const ValueTemplate& t = std::get<ValueTemplate>(compiled);
  EXPECT_FALSE(t.is_literal());
  EvalContext context{.scope = &scope_};
  StatusOr<Json> r = t.Render(context);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, Json::parse(R"({
    "url": "https://x/c_1",
    "params": {"clerk": "c_1", "n": 3, "fixed": 1},
    "list": [true, "plain", "${{ kept }}"],
    "a/b": {"~c": ["a", "b"]}
  })"));
  std::vector<ValueTemplate::Site> sites = t.Sites();
  std::vector<std::string> pointers;
  for (const auto& site : sites) pointers.push_back(site.pointer);
  EXPECT_EQ(pointers, (std::vector<std::string>{"/a~1b/~0c", "/list/0", "/params/clerk",
                                                "/params/n", "/url"}));
  EXPECT_EQ(sites[1].embedded->expression.source(), "event.data.ok");
}

TEST_F(TemplateTest, ValueTemplateRootStringAndLiterals) {
  auto compiled = ValueTemplate::Compile(Json("${{ event.data.n }}"));
  ASSERT_TRUE(std::holds_alternative<ValueTemplate>(compiled));
  EvalContext context{.scope = &scope_};
  EXPECT_EQ(std::get<ValueTemplate>(compiled).Render(context).value(), 3);
  EXPECT_EQ(std::get<ValueTemplate>(compiled).Sites()[0].pointer, "");

  auto literal = ValueTemplate::Compile(Json::parse(R"({"a": [1, "b"], "c": "$${{ x }}"})"));
  ASSERT_TRUE(std::holds_alternative<ValueTemplate>(literal));
  EXPECT_TRUE(std::get<ValueTemplate>(literal).is_literal());
  EXPECT_EQ(std::get<ValueTemplate>(literal).Render(context).value(),
            Json::parse(R"({"a": [1, "b"], "c": "${{ x }}"})"));
}

TEST_F(TemplateTest, ValueTemplateCompileErrorPointsAtString) {
  auto compiled = ValueTemplate::Compile(Json::parse(R"({"x": [1, {"y": "a ${{ 1 + "}]})"));
  ASSERT_TRUE(std::holds_alternative<ValueTemplate::CompileError>(compiled));
  const auto& error = std::get<ValueTemplate::CompileError>(compiled);
  EXPECT_EQ(error.pointer, "/x/1/y");
  EXPECT_EQ(error.error.offset, 2u);
}

TEST_F(TemplateTest, ValueTemplateMoves) {
  auto compiled = ValueTemplate::Compile(Json({{"a", "${{ event.data.n }}"}}));
  ValueTemplate t = std::move(std::get<ValueTemplate>(compiled));
  EvalContext context{.scope = &scope_};
  EXPECT_EQ(t.Render(context).value(), Json({{"a", 3}}));
}

TEST_F(TemplateTest, DeepValueDoesNotRecurse) {
  Json deep = "${{ event.data.n }}";
  for (int i = 0; i < 2000; ++i) deep = Json::array({std::move(deep)});
  auto compiled = ValueTemplate::Compile(deep);
  ASSERT_TRUE(std::holds_alternative<ValueTemplate>(compiled));
  EXPECT_EQ(std::get<ValueTemplate>(compiled).Sites().size(), 1u);
}

}  // namespace
}  // namespace flowrun::expr
